//! A call's event log writer: stamps each entry with the call's protocol, a sequence
//! number (the call's version) and the wall time, and publishes it on the bus as
//! `Change::Call`; the bus hands it to the event log before any live reader sees it.
//! Cloned into the tasks that log for the call (recording finalizer, the ACD actor); owns
//! nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::bus::{Bus, Change};
use crate::events::EventKind;
use crate::store::event::CallEvent;
use crate::store::protocol::Protocol;

/// A call's event log writer: stamps sequence numbers and times.
#[derive(Clone)]
pub struct CallLog {
    pub(crate) protocol: Protocol,
    seq: Arc<AtomicU32>,
    bus: Bus,
}

impl CallLog {
    pub fn new(bus: Bus, protocol: Protocol) -> CallLog {
        CallLog::resume(bus, protocol, 0)
    }

    /// Goes on with the log of a call from before a restart (a pending callback):
    /// `next_seq` must be past every entry it already has, which the writer would
    /// otherwise drop as duplicates.
    pub fn resume(bus: Bus, protocol: Protocol, next_seq: u32) -> CallLog {
        CallLog {
            protocol,
            seq: Arc::new(AtomicU32::new(next_seq)),
            bus,
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
        self.bus.publish(Change::Call(CallEvent {
            protocol: self.protocol.clone(),
            seq,
            at_ms,
            kind,
        }));
    }
}

impl std::fmt::Debug for CallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLog")
            .field("protocol", &self.protocol.to_string())
            .finish()
    }
}
