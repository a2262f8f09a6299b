//! The server's configuration: one TOML file, parsed and validated before anything starts.
//!
//! Owns the file format and its rules (addresses parse, port ranges make sense, every route
//! names a known service, every agent has a secret). It does not open sockets or files
//! other than the config itself; `check()` is what `atende check-config` runs.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::sip::digest::Ha1Set;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config: {0}")]
    Invalid(#[from] Invalid),
}

/// A semantic error in an otherwise well-formed config, naming the offending setting.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("media.rtp_port_min ({min}) must be even and below media.rtp_port_max ({max})")]
    PortRange { min: u16, max: u16 },
    #[error("media.codecs: unknown codec {0:?} (known: PCMA, PCMU, opus)")]
    UnknownCodec(String),
    #[error(
        "sip.digest_algorithms: {0:?} is not one of SHA-256, MD5 (and the list may not be empty)"
    )]
    DigestAlgorithm(String),
    #[error("media.batch_ms must be between 1 and 20 (got {0})")]
    BatchMs(u64),
    #[error("media.codecs must list at least one codec")]
    NoCodec,
    #[error("trunk {trunk:?}: allow entry {entry:?} is not an IP address or CIDR network")]
    TrunkAllow { trunk: String, entry: String },
    #[error("trunk {0:?} has neither an allow list nor credentials: nobody could use it")]
    TrunkOpen(String),
    #[error("trunk {0:?}: min_session_expires_secs must be at least 1 (RFC 4028 asks 90)")]
    TrunkMinSe(String),
    #[error("route for DID {did:?} names unknown service {service:?}")]
    UnknownService { did: String, service: String },
    #[error("route DID {0:?} appears twice")]
    DuplicateDid(String),
    #[error("service {service:?} lists unknown agent {agent:?}")]
    UnknownAgent { service: String, agent: String },
    #[error("agent {0:?} appears twice")]
    DuplicateAgent(String),
    #[error(
        "agent {0:?} needs a secret: password (demo only) or ha1_md5/ha1_sha256 (hex digest hashes)"
    )]
    AgentSecret(String),
    #[error("agent {agent:?}: {field} is not a valid hex digest")]
    AgentHash { agent: String, field: &'static str },
    #[error("timezone {0:?} is not a known IANA time zone")]
    TimeZone(String),
    #[error("http.admin_token must be at least 16 characters")]
    WeakToken,
    #[error("service {0:?} has ivr = true but there is no [ivr] section")]
    NoIvr(String),
    #[error("service {0:?} needs a welcome_prompt (or ivr = true)")]
    NoWelcome(String),
    #[error("agent {agent:?} serves unknown queue {queue:?}")]
    UnknownQueue { agent: String, queue: String },
    #[error("agent {agent:?}: skill {skill:?} level {level} is outside 1..=10")]
    SkillLevel {
        agent: String,
        skill: String,
        level: u8,
    },
    #[error("agent {0:?}: pin must be 1 to 12 digits")]
    Pin(String),
    #[error("queues: {0}")]
    Queues(String),
    #[error("queue {0:?} offers callbacks but there is no [outbound] section to call back through")]
    CallbackWithoutOutbound(String),
    #[error("queue {0:?}: callback key must be one digit 0-9 (* and # are taken)")]
    CallbackKey(String),
    #[error("queue {0:?} has an offer_callback escalation but no callback key")]
    CallbackOfferWithoutKey(String),
    #[error("database.url must start with sqlite:// or postgres:// (got {0:?})")]
    DatabaseUrl(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// IANA time zone used for protocol-number days and, later, schedules.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// How long a stop (SIGTERM/SIGINT) waits for calls to end and recordings to be
    /// sealed before the process exits anyway, logging what was left.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub recording: RecordingSettings,
    pub prompts: PromptSettings,
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// The IVR flows for services with `ivr = true`; absent = no IVR.
    #[serde(default)]
    pub ivr: Option<IvrSettings>,
    /// ACD queues (DAC groups) the IVR hands calls to.
    #[serde(default)]
    pub queues: Vec<crate::acd::QueueConfig>,
    #[serde(default)]
    pub acd: AcdSettings,
    /// Where calls leave atende for the public network (callbacks to citizens).
    #[serde(default)]
    pub outbound: Option<OutboundConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// The SIP media gateway that places calls on the E1 lines (UDP).
    pub gateway: SocketAddr,
    /// The number citizens see calling them (the institute's line).
    pub caller_id: String,
    /// Digits put before the dialled number (e.g. a carrier-selection code).
    #[serde(default)]
    pub prefix: String,
    /// How long the citizen's phone rings before the attempt counts as not answered.
    #[serde(default = "default_citizen_ring")]
    pub ring_timeout_secs: u64,
}

fn default_citizen_ring() -> u64 {
    40
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcdSettings {
    /// Pause reasons agents may pick; absent = the engine's defaults ("no answer" always).
    pub pause_reasons: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IvrSettings {
    /// Directory of the flow files (entry.yaml and the flows it names).
    pub dir: PathBuf,
    /// Requests of `http` nodes whose URL starts with a key go to the value instead (the
    /// rest of the URL kept): points the shipped flows at a staging or test service.
    #[serde(default)]
    pub http_rewrite: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    pub listen_udp: Option<SocketAddr>,
    pub listen_tcp: Option<SocketAddr>,
    /// Address put in Contact headers when it differs from the bound one (server behind NAT).
    pub public_address: Option<SocketAddr>,
    #[serde(default = "default_realm")]
    pub realm: String,
    #[serde(default = "default_min_expires")]
    pub min_expires_secs: u32,
    #[serde(default = "default_max_expires")]
    pub max_expires_secs: u32,
    /// Calls in progress beyond which new INVITEs get 503.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
    /// Failed authentications per source address before it is blocked for a while.
    #[serde(default = "default_auth_failures")]
    pub auth_max_failures: u32,
    /// Digest algorithms offered in 401/407 challenges, one header each, in this order.
    /// RFC 8760 clients take the first they support; some older phones (and sipp) only
    /// read the first header, so put MD5 first for them.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Address RTP sockets bind to and advertise in SDP.
    pub rtp_ip: IpAddr,
    /// Address advertised in SDP when different (server behind NAT).
    pub public_ip: Option<IpAddr>,
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// Codec preference order for answers and offers; PCMA first in Brazil.
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    /// Media worker threads; 0 means one per CPU core.
    #[serde(default)]
    pub threads: usize,
    /// How long a media worker gathers packets before relaying them in one batch.
    #[serde(default = "default_batch_ms")]
    pub batch_ms: u64,
    /// Seat callers whose gateway is reached directly (no NAT) on shared ports, read and
    /// written in batches (`media::shared_port`); agent legs keep their own. Off by default: a peer that announces
    /// one RTP address for several calls (sipp does) cannot be told apart on a shared port.
    #[serde(default)]
    pub shared_ports: bool,
    /// Relay RTP through io_uring where the kernel offers it (Linux 6.1+), else epoll.
    #[serde(default = "default_io_uring")]
    pub io_uring: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub admin_token: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingSettings {
    pub dir: PathBuf,
    /// `alaw` (default) or `pcm16`.
    #[serde(default)]
    pub format: crate::media::recording::RecordingFormat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub name: String,
    /// Source addresses or networks accepted without authentication.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Digest credentials a gateway may authenticate with instead.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Take the caller's number from `P-Asserted-Identity` (the gateway vouches for it);
    /// otherwise, and when absent, from `From`.
    #[serde(default)]
    pub trust_identity: bool,
    /// The shortest session-timer interval (RFC 4028 `Min-SE`) accepted from this trunk;
    /// a shorter `Session-Expires` is answered 422. The RFC's floor is 90 s; lower values
    /// exist for tests.
    #[serde(default = "default_min_session_expires")]
    pub min_session_expires_secs: u32,
}

fn default_min_session_expires() -> u32 {
    crate::sip::session_timer::RFC_MIN_SE
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Dialled number (B-number) as it arrives in the request-URI or To.
    pub did: String,
    pub service: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Calls run the IVR flows (`[ivr]`), which hand them to the ACD queues.
    #[serde(default)]
    pub ivr: bool,
    /// Played after answer by a service without IVR (required for one).
    #[serde(default)]
    pub welcome_prompt: Option<String>,
    /// Music while ringing agents (no IVR) or waiting in a queue (IVR).
    pub hold_music: String,
    /// Agents whose registered phones ring for a service without IVR.
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Plain password: accepted for the demo; production configs store HA1 hashes.
    pub password: Option<String>,
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
    /// Digits typed after `*45<id>` to log in from any registered phone.
    pub pin: Option<String>,
    /// ACD queues the agent serves (tier 1).
    #[serde(default)]
    pub queues: Vec<String>,
    /// Skills and proficiency (1-10), e.g. `{ agendamento = 5 }`.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Logged in and available at the first start (demo); later starts restore the
    /// state the agent log last saw (`lifecycle::agents`).
    #[serde(default)]
    pub auto_login: bool,
}

fn default_shutdown_timeout() -> u64 {
    10
}

fn default_timezone() -> String {
    "America/Sao_Paulo".into()
}
fn default_realm() -> String {
    "atende".into()
}
fn default_min_expires() -> u32 {
    60
}
fn default_max_expires() -> u32 {
    3600
}
fn default_max_calls() -> usize {
    4000
}
fn default_auth_failures() -> u32 {
    5
}
fn default_io_uring() -> bool {
    true
}

fn default_batch_ms() -> u64 {
    5
}
fn default_digest_algorithms() -> Vec<String> {
    vec!["SHA-256".into(), "MD5".into()]
}
fn default_codecs() -> Vec<String> {
    vec!["PCMA".into(), "PCMU".into(), "opus".into()]
}
fn default_ring_timeout() -> u64 {
    30
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config = Self::parse(&text).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: path.to_owned(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Parses and validates config text; relative paths stay relative to the working dir.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// Every rule a config must satisfy beyond its syntax.
    pub fn check(&self) -> Result<(), Invalid> {
        let m = &self.media;
        if !m.rtp_port_min.is_multiple_of(2) || m.rtp_port_min >= m.rtp_port_max {
            return Err(Invalid::PortRange {
                min: m.rtp_port_min,
                max: m.rtp_port_max,
            });
        }
        if !(1..=20).contains(&m.batch_ms) {
            return Err(Invalid::BatchMs(m.batch_ms));
        }
        if m.codecs.is_empty() {
            return Err(Invalid::NoCodec);
        }
        for c in &m.codecs {
            if crate::sdp::Codec::from_name(c).is_none() {
                return Err(Invalid::UnknownCodec(c.clone()));
            }
        }
        if self.sip.digest_algorithms.is_empty() {
            return Err(Invalid::DigestAlgorithm(String::new()));
        }
        for a in &self.sip.digest_algorithms {
            if !matches!(a.to_ascii_uppercase().as_str(), "SHA-256" | "MD5") {
                return Err(Invalid::DigestAlgorithm(a.clone()));
            }
        }
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            return Err(Invalid::TimeZone(self.timezone.clone()));
        }
        if self.http.admin_token.len() < 16 {
            return Err(Invalid::WeakToken);
        }
        let url = &self.database.url;
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return Err(Invalid::DatabaseUrl(url.clone()));
        }
        for t in &self.trunks {
            t.networks()?;
            if t.allow.is_empty() && t.username.is_none() {
                return Err(Invalid::TrunkOpen(t.name.clone()));
            }
            if t.min_session_expires_secs == 0 {
                return Err(Invalid::TrunkMinSe(t.name.clone()));
            }
        }
        let mut dids = HashSet::new();
        for r in &self.routes {
            if !dids.insert(r.did.as_str()) {
                return Err(Invalid::DuplicateDid(r.did.clone()));
            }
            if !self.services.contains_key(&r.service) {
                return Err(Invalid::UnknownService {
                    did: r.did.clone(),
                    service: r.service.clone(),
                });
            }
        }
        let mut agents = HashSet::new();
        for a in &self.agents {
            if !agents.insert(a.id.as_str()) {
                return Err(Invalid::DuplicateAgent(a.id.clone()));
            }
            a.ha1(&self.sip.realm)?;
        }
        let queues: HashSet<&str> = self.queues.iter().map(|q| q.id.as_str()).collect();
        for a in &self.agents {
            if let Some(q) = a.queues.iter().find(|q| !queues.contains(q.as_str())) {
                return Err(Invalid::UnknownQueue {
                    agent: a.id.clone(),
                    queue: q.clone(),
                });
            }
            if let Some((skill, level)) = a.skills.iter().find(|(_, l)| !(1..=10).contains(*l)) {
                return Err(Invalid::SkillLevel {
                    agent: a.id.clone(),
                    skill: skill.clone(),
                    level: *level,
                });
            }
            if let Some(pin) = &a.pin
                && (pin.is_empty() || pin.len() > 12 || !pin.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(Invalid::Pin(a.id.clone()));
            }
        }
        for q in &self.queues {
            let offers = q
                .escalation
                .iter()
                .any(|e| matches!(e.action, crate::acd::Escalation::OfferCallback));
            match q.callback.key {
                Some(k) if !k.is_ascii_digit() => {
                    return Err(Invalid::CallbackKey(q.id.to_string()));
                }
                Some(_) if self.outbound.is_none() => {
                    return Err(Invalid::CallbackWithoutOutbound(q.id.to_string()));
                }
                None if offers => {
                    return Err(Invalid::CallbackOfferWithoutKey(q.id.to_string()));
                }
                _ => {}
            }
        }
        crate::acd::Engine::new(
            self.engine_config(),
            crate::acd::Now::new(crate::acd::Tick::ZERO, jiff::Timestamp::UNIX_EPOCH),
        )
        .map_err(|e| Invalid::Queues(e.to_string()))?;
        for (name, s) in &self.services {
            if s.ivr && self.ivr.is_none() {
                return Err(Invalid::NoIvr(name.clone()));
            }
            if !s.ivr && s.welcome_prompt.is_none() {
                return Err(Invalid::NoWelcome(name.clone()));
            }
            for a in &s.agents {
                if !agents.contains(a.as_str()) {
                    return Err(Invalid::UnknownAgent {
                        service: name.clone(),
                        agent: a.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The ACD engine's configuration: the queues and pause reasons.
    pub fn engine_config(&self) -> crate::acd::EngineConfig {
        // The engine's default pause reasons, taken from its own serde default.
        let defaults =
            serde_json::from_value::<crate::acd::EngineConfig>(serde_json::json!({ "queues": [] }))
                .map(|c| c.pause_reasons)
                .unwrap_or_default();
        crate::acd::EngineConfig {
            queues: self.queues.clone(),
            pause_reasons: self.acd.pause_reasons.clone().unwrap_or(defaults),
        }
    }

    pub fn service_for_did(&self, did: &str) -> Option<(&str, &ServiceConfig)> {
        let route = self.routes.iter().find(|r| r.did == did)?;
        let service = self.services.get(&route.service)?;
        Some((route.service.as_str(), service))
    }
}

impl TrunkConfig {
    pub fn networks(&self) -> Result<Vec<IpNet>, Invalid> {
        self.allow
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| Invalid::TrunkAllow {
                        trunk: self.name.clone(),
                        entry: entry.clone(),
                    })
            })
            .collect()
    }
}

impl AgentConfig {
    /// The digest secrets this agent authenticates with.
    pub fn ha1(&self, realm: &str) -> Result<Ha1Set, Invalid> {
        match (&self.password, &self.ha1_md5, &self.ha1_sha256) {
            (Some(pw), None, None) => Ok(Ha1Set::from_password(&self.id, realm, pw)),
            (None, md5, sha) if md5.is_some() || sha.is_some() => {
                Ha1Set::from_hex(md5.as_deref(), sha.as_deref()).map_err(|_| Invalid::AgentHash {
                    agent: self.id.clone(),
                    field: if md5.is_some() {
                        "ha1_md5"
                    } else {
                        "ha1_sha256"
                    },
                })
            }
            _ => Err(Invalid::AgentSecret(self.id.clone())),
        }
    }
}

impl ServiceConfig {
    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.ring_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../config/atende.toml");

    #[test]
    fn shipped_demo_config_is_valid() {
        let c = Config::parse(DEMO).expect("demo config must validate");
        assert_eq!(c.agents.len(), 5);
        let (name, svc) = c.service_for_did("08000000000").expect("demo DID routed");
        assert_eq!(name, "ura");
        assert!(svc.ivr);
        assert!(c.service_for_did("08006000190").is_some_and(|(_, s)| s.ivr));
        let (_, demo) = c.service_for_did("08000000001").expect("direct demo DID");
        assert_eq!(demo.agents.len(), 5);
        let queues: Vec<&str> = c.queues.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(
            queues,
            [
                "geral",
                "pericia",
                "beneficios",
                "pagamentos",
                "acessibilidade"
            ]
        );
        assert!(c.agents.iter().all(|a| a.auto_login && a.pin.is_some()));
        assert_eq!(c.media.codecs[0], "PCMA");
    }

    #[test]
    fn route_to_unknown_service_is_refused_with_its_name() {
        let bad = DEMO.replace("service = \"demo\"", "service = \"nope\"");
        let err = Config::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = Config::parse("[sip\nlisten_udp = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn odd_port_range_is_refused() {
        let bad = DEMO.replace("rtp_port_min = 20000", "rtp_port_min = 20001");
        assert!(matches!(
            Config::parse(&bad),
            Err(ConfigError::Invalid(Invalid::PortRange { .. }))
        ));
    }

    #[test]
    fn agent_without_secret_is_refused() {
        let bad = DEMO.replacen("password = \"demo1001\"", "", 1);
        assert!(matches!(
            Config::parse(&bad),
            Err(ConfigError::Invalid(Invalid::AgentSecret(a))) if a == "1001"
        ));
    }
}
