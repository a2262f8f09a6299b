//! The exchange: the SIP edge's shared parts (registrar, dialog layer and router, our
//! SIP address) on top of the floor (`crate::floor::Floor`: config, ports, recordings,
//! prompts, event log and bus, flows, the ACD, counters), shared behind one `Arc`.
//!
//! It dereferences to the floor, so the call path reads `ex.config()`, `ex.acd`, ... as
//! before; the API and the CTI hold the floor itself and never see SIP. The floor reaches
//! back only through `floor::Edge`, which the exchange implements.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Weak};

use rsipstack::dialog::dialog_layer::DialogLayer;

use crate::config::Config;
use crate::floor::{Edge, Floor};
use crate::sip::registrar::Registrar;

pub use crate::floor::CallCounters;

pub struct Exchange {
    floor: Arc<Floor>,
    pub registrar: Registrar,
    pub dialogs: Arc<DialogLayer>,
    /// The one dialog-state channel, routed to call actors by Call-ID.
    pub dialog_router: crate::sip::dialog_router::DialogRouter,
    /// Our SIP address for Contact headers.
    pub sip_addr: SocketAddr,
    /// Internal calls whose answered leg an attended REFER may take (`handover`).
    pub handovers: crate::sip::handover::Handovers,
    /// The users, read by the supervisors' monitoring code (`monitor_code`) to know who a
    /// phone's account belongs to; set once the API's auth has started.
    phone_users: std::sync::OnceLock<crate::users::Sessions>,
}

impl Exchange {
    /// The exchange over `floor`, connected to it as its SIP edge.
    pub fn new(
        floor: Arc<Floor>,
        registrar: Registrar,
        dialogs: Arc<DialogLayer>,
        sip_addr: SocketAddr,
    ) -> Arc<Self> {
        let ex = Arc::new(Exchange {
            floor,
            registrar,
            dialogs,
            dialog_router: crate::sip::dialog_router::DialogRouter::start(),
            sip_addr,
            handovers: Default::default(),
            phone_users: Default::default(),
        });
        let edge: Weak<dyn Edge> = Arc::downgrade(&ex) as Weak<dyn Edge>;
        ex.floor.set_edge(edge);
        ex
    }

    /// Gives the monitoring code the users (once; a second call is ignored).
    pub fn set_phone_users(&self, sessions: crate::users::Sessions) {
        let _ = self.phone_users.set(sessions);
    }

    /// The users, once the API's auth has started.
    pub fn phone_users(&self) -> Option<&crate::users::Sessions> {
        self.phone_users.get()
    }

    /// The floor under this edge (what the API and the CTI hold).
    pub fn floor(&self) -> &Arc<Floor> {
        &self.floor
    }

    pub fn contact_host(&self) -> SocketAddr {
        self.config().sip.public_address.unwrap_or(self.sip_addr)
    }
}

impl Deref for Exchange {
    type Target = Floor;

    fn deref(&self) -> &Floor {
        &self.floor
    }
}

impl Edge for Exchange {
    fn registrations(&self) -> usize {
        self.registrar.registrations()
    }

    fn dialogs(&self) -> usize {
        self.dialog_router.len()
    }

    fn set_accounts(&self, config: &Config) {
        self.registrar.set_accounts(config);
    }
}
