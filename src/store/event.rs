//! One entry of a call's event log as the event writer receives it.
//!
//! The vocabulary (`EventKind`, `Party`) lives in `crate::events` so the pure call cores
//! can name events without depending on the store; it is re-exported here. Events are
//! also the lines of the spill journal, so their serde form is a stored format.

use serde::{Deserialize, Serialize};

pub use crate::events::{EventKind, Party};

use super::protocol::Protocol;

/// Something that happened to a call. `seq` counts from 0 per call; (protocol, seq) is
/// unique, which makes writing the same event twice harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    pub protocol: Protocol,
    pub seq: u32,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub kind: EventKind,
}

impl CallEvent {
    /// The `detail` column: the event's own fields as JSON, tagged with its kind so a
    /// stored row reads back into an `EventKind` on its own.
    pub fn detail_json(&self) -> String {
        serde_json::to_string(&self.kind)
            .expect("EventKind is plain data with string keys: serializing cannot fail")
    }
}

/// The snake_case name of a party, as stored in `calls.hangup_by`.
pub fn party_name(p: Party) -> &'static str {
    match p {
        Party::Caller => "caller",
        Party::Agent => "agent",
        Party::System => "system",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_reads_back_into_the_same_kind_and_names_match_serde() {
        let ev = CallEvent {
            protocol: "20261123-000001".parse().expect("valid"),
            seq: 3,
            at_ms: 1_700_000_000_000,
            kind: EventKind::HungUp {
                by: Party::Caller,
                cause: "normal".into(),
                sip_status: Some(200),
            },
        };
        let detail: serde_json::Value =
            serde_json::from_str(&ev.detail_json()).expect("detail is JSON");
        assert_eq!(detail["kind"], ev.kind.name());
        assert_eq!(detail["by"], party_name(Party::Caller));
        let back: EventKind = serde_json::from_value(detail).expect("reads back");
        assert_eq!(back, ev.kind);
        let line = serde_json::to_string(&ev).expect("serializes");
        assert_eq!(
            serde_json::from_str::<CallEvent>(&line).expect("parses"),
            ev
        );
    }
}
