//! A call's event log writer: stamps each entry with the call's protocol, a sequence
//! number and the wall time, and hands it to the event log. Cloned into the tasks that
//! log for the call (recording finalizer, the ACD actor); owns nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::events::EventKind;
use crate::sip::exchange::Exchange;
use crate::store::event::CallEvent;
use crate::store::protocol::Protocol;

/// A call's event log writer: stamps sequence numbers and times.
#[derive(Clone)]
pub struct CallLog {
    pub(crate) protocol: Protocol,
    seq: Arc<AtomicU32>,
    ex: Arc<Exchange>,
}

impl CallLog {
    pub fn new(ex: Arc<Exchange>, protocol: Protocol) -> CallLog {
        CallLog {
            protocol,
            seq: Arc::new(AtomicU32::new(0)),
            ex,
        }
    }

    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    pub fn record(&self, kind: EventKind) {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.ex.event_log.record(CallEvent {
            protocol: self.protocol.clone(),
            seq,
            at_ms,
            kind,
        });
    }
}

impl std::fmt::Debug for CallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLog")
            .field("protocol", &self.protocol.to_string())
            .finish()
    }
}
