//! The floor: where agents, queues and calls live. The actors that own them — the ACD
//! actor (`acd`), each call's event log writer (`call_log`), the registry of live calls
//! (`calls`) — and the read-mostly parts every call uses (`Floor`: config, RTP ports,
//! recordings, prompts, the event log and the bus, IVR flows, counters) are here, so the
//! SIP edge, the API and the CTI command calls and agents through the same handles and
//! none of them needs to import another's internals.
//!
//! Limits: nothing here speaks SIP. What the floor needs of the SIP edge (registration
//! and dialog counts for /metrics, new accounts on a reload) it asks through `Edge`, which
//! the edge implements; the dependency points from `sip` to `floor`, never back.
//!
//! The config is swappable (`atende reload`, `crate::reload`): a new call reads it once
//! (`config()`, an `Arc` clone under a std `RwLock` held for that clone only) and keeps
//! that snapshot to its end, so calls in progress finish on the settings they began with.
//! Mutable state is either atomic or behind a std `Mutex` taken for a few instructions.

pub mod acd;
pub mod agents;
pub mod call_log;
pub mod callback_store;
pub mod calls;
pub mod control;
pub mod hot_desk;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use ipnet::IpNet;

use crate::bus::Bus;
use crate::config::Config;
use crate::ivr::{Announcements, LiveFlows};
use crate::media::ports::RtpPorts;
use crate::media::prompt::PromptLibrary;
use crate::media::reactor::MediaReactor;
use crate::media::recording::RecordingService;
use crate::media::session::MediaStats;
use crate::sdp::Codec;
use crate::store::event_log::EventLogHandle;
use crate::store::protocol::{Protocol, ProtocolAllocator};
use acd::AcdHandle;

/// What a private caller's number is shown as (on the wallboard, in the screen-pop).
pub const RESTRICTED: &str = "restrito";

/// Counters for /metrics that are not owned by a more specific module.
#[derive(Debug, Default)]
pub struct CallCounters {
    pub active: AtomicUsize,
    pub offered: AtomicU64,
    pub rejected: AtomicU64,
}

/// The reload state the floor carries: which file, and how reloads went.
#[derive(Debug, Default)]
pub struct Reloads {
    file: OnceLock<PathBuf>,
    /// Set while a reload runs (one at a time).
    pub(crate) running: AtomicBool,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    /// 1 when the last reload was applied, 0 when refused (or none yet).
    pub last_ok: AtomicBool,
}

impl Reloads {
    /// The file reloads read (set once, by `serve`).
    pub fn set_file(&self, path: PathBuf) {
        let _ = self.file.set(path);
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.get().map(PathBuf::as_path)
    }
}

/// What the floor asks of the SIP edge, which implements it (set once at start-up).
pub trait Edge: Send + Sync {
    /// Phones registered now.
    fn registrations(&self) -> usize;
    /// SIP dialogs the edge routes now.
    fn dialogs(&self) -> usize;
    /// Takes the accounts (secrets, agents' phones) of a reloaded config.
    fn set_accounts(&self, config: &Config);
}

/// The config new calls take, with what is derived from it once per reload.
struct Current {
    config: Arc<Config>,
    trunks: Arc<[(String, Vec<IpNet>)]>,
}

impl Current {
    fn new(config: Arc<Config>) -> Current {
        let trunks = config
            .trunks
            .iter()
            .map(|t| (t.name.clone(), t.networks().unwrap_or_default()))
            .collect();
        Current { config, trunks }
    }
}

/// The read-mostly parts every call uses, shared behind one `Arc`.
pub struct Floor {
    current: RwLock<Current>,
    /// Reloads of the config: the file, counters for /metrics.
    pub reloads: Reloads,
    pub ports: RtpPorts,
    pub recordings: RecordingService,
    pub prompts: Arc<PromptLibrary>,
    pub event_log: EventLogHandle,
    /// Every change of a call, an agent or a queue, published once (`crate::bus`).
    pub bus: Bus,
    /// The live calls, by protocol: where commands to a call go.
    pub calls: calls::Calls,
    pub media_stats: Arc<MediaStats>,
    pub media: MediaReactor,
    pub counters: CallCounters,
    /// Which phone each agent logged in from (`*45`), for ringing and the phone's codes.
    pub hot_desk: hot_desk::HotDesk,
    pub codecs: Vec<Codec>,
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
    edge: OnceLock<Weak<dyn Edge>>,
    protocols: Mutex<ProtocolAllocator>,
    tz: jiff::tz::TimeZone,
}

impl Floor {
    pub fn new(
        config: Arc<Config>,
        recordings: RecordingService,
        prompts: Arc<PromptLibrary>,
        event_log: EventLogHandle,
        bus: Bus,
        protocols: ProtocolAllocator,
        media: MediaReactor,
    ) -> Self {
        let m = &config.media;
        let codecs = m
            .codecs
            .iter()
            .filter_map(|c| Codec::from_name(c))
            .collect();
        let tz = jiff::tz::TimeZone::get(&config.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        Floor {
            ports: RtpPorts::new(m.rtp_ip, m.rtp_port_min, m.rtp_port_max),
            recordings,
            prompts,
            bus,
            event_log,
            calls: Default::default(),
            media_stats: media.stats(),
            media,
            counters: CallCounters::default(),
            hot_desk: Default::default(),
            codecs,
            flows: None,
            announcements: Arc::new(Announcements::new()),
            acd: None,
            http: http_client(),
            lifecycle: Default::default(),
            edge: OnceLock::new(),
            protocols: Mutex::new(protocols),
            tz,
            current: RwLock::new(Current::new(config)),
            reloads: Default::default(),
        }
    }

    /// Sets the IVR flows (before the floor is shared).
    pub fn with_flows(mut self, flows: Option<Arc<LiveFlows>>) -> Self {
        self.flows = flows;
        self
    }

    /// Sets the ACD actor (before the floor is shared).
    pub fn with_acd(mut self, acd: Option<AcdHandle>) -> Self {
        self.acd = acd;
        self
    }

    /// Connects the SIP edge (once; later calls are ignored).
    pub fn set_edge(&self, edge: Weak<dyn Edge>) {
        let _ = self.edge.set(edge);
    }

    /// The SIP edge, while it runs.
    pub fn edge(&self) -> Option<Arc<dyn Edge>> {
        self.edge.get().and_then(Weak::upgrade)
    }

    /// The config a new call takes; the call keeps this snapshot to its end.
    pub fn config(&self) -> Arc<Config> {
        self.current().config.clone()
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        // Swapping an `Arc` cannot leave it half-written: a poisoned lock is still whole.
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `config` the one new calls take (checked by `crate::reload` beforehand).
    pub(crate) fn swap_config(&self, config: Arc<Config>) -> Arc<Config> {
        let next = Current::new(config);
        let mut cur = self.current.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *cur, next).config
    }

    /// The trunk a source address belongs to by allow-list.
    pub fn trunk_for(&self, ip: IpAddr) -> Option<String> {
        let trunks = self.current().trunks.clone();
        trunks
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(&ip)))
            .map(|(name, _)| name.clone())
    }

    /// The address we advertise in SDP for a local RTP socket.
    pub fn advertised(&self, local: SocketAddr) -> SocketAddr {
        SocketAddr::new(
            self.config().media.public_ip.unwrap_or(local.ip()),
            local.port(),
        )
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
        self.config()
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
