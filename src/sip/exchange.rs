//! The exchange: the read-mostly parts every call uses, shared behind one `Arc`.
//!
//! Config, registrar, RTP ports, recording writer, prompts, the event log, the IVR flows
//! and emergency announcement switch, and the counters exported on /metrics. Mutable state here is either atomic or behind a std `Mutex` taken
//! for a few instructions (protocol numbers); calls own everything else themselves.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use rsipstack::dialog::dialog_layer::DialogLayer;

use crate::config::Config;
use crate::ivr::{Announcements, LiveFlows};
use crate::media::ports::RtpPorts;
use crate::media::prompt::PromptLibrary;
use crate::media::reactor::MediaReactor;
use crate::media::recording::RecordingService;
use crate::media::session::MediaStats;
use crate::sdp::Codec;
use crate::sip::acd::AcdHandle;
use crate::sip::registrar::Registrar;
use crate::store::event_log::EventLogHandle;
use crate::store::protocol::{Protocol, ProtocolAllocator};

/// Counters for /metrics that are not owned by a more specific module.
#[derive(Debug, Default)]
pub struct CallCounters {
    pub active: AtomicUsize,
    pub offered: AtomicU64,
    pub rejected: AtomicU64,
}

pub struct Exchange {
    pub config: Arc<Config>,
    pub registrar: Registrar,
    pub dialogs: Arc<DialogLayer>,
    /// The one dialog-state channel, routed to call actors by Call-ID.
    pub dialog_router: crate::sip::dialog_router::DialogRouter,
    pub ports: RtpPorts,
    pub recordings: RecordingService,
    pub prompts: Arc<PromptLibrary>,
    pub event_log: EventLogHandle,
    pub media_stats: Arc<MediaStats>,
    pub media: MediaReactor,
    pub counters: CallCounters,
    /// Which phone each agent logged in from (`*45`), for ringing and the phone's codes.
    pub hot_desk: crate::sip::hot_desk::HotDesk,
    pub codecs: Vec<Codec>,
    /// Our SIP address for Contact headers.
    pub sip_addr: SocketAddr,
    /// The IVR flows new calls take (`None` when no `[ivr]` is configured). Reloaded by
    /// the API; a call keeps the set it started with.
    pub flows: Option<Arc<LiveFlows>>,
    /// The emergency announcement switch, flipped by the API, read once per new call.
    pub announcements: Arc<Announcements>,
    /// The ACD actor (`None` when no queue is configured).
    pub acd: Option<AcdHandle>,
    /// HTTP client for the IVR's `http` nodes (`None` if TLS could not be set up).
    pub http: Option<reqwest::Client>,
    /// The drain switch every call watches, and the count of calls the stop waits for.
    pub lifecycle: crate::lifecycle::Lifecycle,
    trunks: Vec<(String, Vec<IpNet>)>,
    protocols: Mutex<ProtocolAllocator>,
    tz: jiff::tz::TimeZone,
}

impl Exchange {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        registrar: Registrar,
        dialogs: Arc<DialogLayer>,
        recordings: RecordingService,
        prompts: Arc<PromptLibrary>,
        event_log: EventLogHandle,
        protocols: ProtocolAllocator,
        sip_addr: SocketAddr,
        media: MediaReactor,
    ) -> Self {
        let m = &config.media;
        let trunks = config
            .trunks
            .iter()
            .map(|t| (t.name.clone(), t.networks().unwrap_or_default()))
            .collect();
        let codecs = m
            .codecs
            .iter()
            .filter_map(|c| Codec::from_name(c))
            .collect();
        let tz = jiff::tz::TimeZone::get(&config.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        Exchange {
            ports: RtpPorts::new(m.rtp_ip, m.rtp_port_min, m.rtp_port_max),
            registrar,
            dialogs,
            dialog_router: crate::sip::dialog_router::DialogRouter::start(),
            recordings,
            prompts,
            event_log,
            media_stats: media.stats(),
            media,
            counters: CallCounters::default(),
            hot_desk: Default::default(),
            codecs,
            sip_addr,
            flows: None,
            announcements: Arc::new(Announcements::new()),
            acd: None,
            http: http_client(),
            lifecycle: Default::default(),
            trunks,
            protocols: Mutex::new(protocols),
            tz,
            config,
        }
    }

    /// Sets the IVR flows (before the exchange is shared).
    pub fn with_flows(mut self, flows: Option<Arc<LiveFlows>>) -> Self {
        self.flows = flows;
        self
    }

    /// Sets the ACD actor (before the exchange is shared).
    pub fn with_acd(mut self, acd: Option<AcdHandle>) -> Self {
        self.acd = acd;
        self
    }

    /// The trunk a source address belongs to by allow-list.
    pub fn trunk_for(&self, ip: IpAddr) -> Option<&str> {
        self.trunks
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(&ip)))
            .map(|(name, _)| name.as_str())
    }

    /// The address we advertise in SDP for a local RTP socket.
    pub fn advertised(&self, local: SocketAddr) -> SocketAddr {
        SocketAddr::new(
            self.config.media.public_ip.unwrap_or(local.ip()),
            local.port(),
        )
    }

    pub fn contact_host(&self) -> SocketAddr {
        self.config.sip.public_address.unwrap_or(self.sip_addr)
    }

    /// Next protocol number, dated in the configured time zone.
    pub fn next_protocol(&self) -> Protocol {
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(self.tz.clone())
            .date();
        let mut p = self.protocols.lock().unwrap_or_else(|e| e.into_inner());
        p.next(today)
    }

    pub fn recording_path(&self, protocol: &Protocol) -> PathBuf {
        let s = protocol.to_string();
        let (y, m, d) = (&s[0..4], &s[4..6], &s[6..8]);
        self.config
            .recording
            .dir
            .join(y)
            .join(m)
            .join(d)
            .join(format!("{s}.wav"))
    }

    pub fn active_calls(&self) -> usize {
        self.counters.active.load(Ordering::Relaxed)
    }
}

/// The IVR's HTTP client: rustls with the ring provider (installed once per process).
fn http_client() -> Option<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match reqwest::Client::builder().build() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "no HTTP client: IVR http nodes will take on_error");
            None
        }
    }
}
