//! The server's configuration: one TOML file, parsed and validated before anything starts.
//!
//! Owns the file format and its rules (addresses parse, port ranges make sense, every route
//! names a known service, every agent has a secret). It does not open sockets or files
//! other than the config itself; `check()` (in `check`) is
//! what `atende check-config` runs first. Digest-related helpers live in `digest`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

mod check;
pub mod closing;
mod cti;
mod desk;
mod digest;
pub mod mail;
pub mod reports;
pub mod survey;
pub mod teams;
pub mod users;

pub use check::Invalid;
pub use cti::CtiSettings;
pub use desk::{Disposition, PauseReason, SCREEN_POP_BUILTINS};

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
    /// The CTI websocket's resume window and disconnect grace (`[cti]`).
    #[serde(default)]
    pub cti: CtiSettings,
    /// What agents may register a call as (`[[dispositions]]`); none = no registrations.
    #[serde(default)]
    pub dispositions: Vec<Disposition>,
    /// Where calls leave atende for the public network (callbacks to citizens).
    #[serde(default)]
    pub outbound: Option<OutboundConfig>,
    /// Operators added to the database at start when their name is not there yet.
    #[serde(default)]
    pub users: Vec<users::UserSeed>,
    /// Teams of agents and queues a user's scope may name (`[teams.NAME]`).
    #[serde(default)]
    pub teams: BTreeMap<String, teams::TeamConfig>,
    /// The contract's invoice value, start and penalty tables (`[contract]`).
    #[serde(default)]
    pub contract: crate::contract::ContractSettings,
    /// Quality monitoring's sample size and filters (`[quality]`).
    #[serde(default)]
    pub quality: crate::quality::QualitySettings,
    /// Satisfaction surveys (ISA) callers answer after the agent (`[surveys.NAME]`).
    #[serde(default)]
    pub surveys: BTreeMap<String, survey::SurveyConfig>,
    /// The reports' definitions in force (`[reports]`, `docs/reports.md`).
    #[serde(default)]
    pub reports: reports::Definitions,
    /// When months close by themselves (`[closing]`).
    #[serde(default)]
    pub closing: closing::ClosingSettings,
    /// Report e-mail (`[mail]`); absent = no report mails.
    #[serde(default)]
    pub mail: Option<mail::MailSettings>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcdSettings {
    /// Pause reasons agents may pick; absent = the defaults (`AcdSettings::pause_reasons`).
    /// The system reasons `no_answer` and `disconnected` are never in it.
    pub pause_reasons: Option<Vec<PauseReason>>,
    /// How long after a call ended the agent who answered it may still register it.
    #[serde(default = "desk::default_registration_window")]
    pub registration_window_secs: u64,
    /// Longest registration note, in characters.
    #[serde(default = "desk::default_note_max_chars")]
    pub note_max_chars: usize,
    /// The caller's previous calls the screen-pop lists.
    #[serde(default = "desk::default_history")]
    pub screen_pop_history: usize,
}

impl Default for AcdSettings {
    fn default() -> Self {
        AcdSettings {
            pause_reasons: None,
            registration_window_secs: desk::default_registration_window(),
            note_max_chars: desk::default_note_max_chars(),
            screen_pop_history: desk::default_history(),
        }
    }
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
    /// Digest algorithms offered in 401/407 challenges, one header each, in this order,
    /// and accepted in answers: the default of every agent and trunk without a list of its
    /// own. MD5 only by default: many softphones (Debian's baresip, older desk phones)
    /// refuse a challenge that lists anything else, even after MD5.
    #[serde(default = "default_digest_algorithms")]
    pub digest_algorithms: Vec<String>,
    /// The `User-Agent`/`Server` header of every request and response atende sends.
    /// No version by default, so a scanner's OPTIONS learns nothing to match exploits by.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
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
    /// Removed: refused with a message pointing to `[[users]]` and `atende user add`.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// Origins (scheme://host:port) other than the server's own whose pages may open the
    /// CTI websocket with the session cookie.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// HTTPS: a PEM certificate chain and its PEM private key (both or neither).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// A session unused this long ends (the user logs in again).
    #[serde(default = "default_session_idle")]
    pub session_idle_secs: u64,
    /// A session ends this long after its login, used or not.
    #[serde(default = "default_session_max")]
    pub session_max_secs: u64,
}

fn default_session_idle() -> u64 {
    30 * 60
}

fn default_session_max() -> u64 {
    12 * 3600
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub name: String,
    /// Source addresses or networks accepted without authentication.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Digest credentials a gateway may authenticate with instead.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Digest algorithms this trunk may answer with, instead of `sip.digest_algorithms`.
    pub digest_algorithms: Option<Vec<String>>,
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

/// RFC 4028's floor for `Min-SE`, in seconds (the SIP edge's session timer uses it too).
pub const RFC_MIN_SE: u32 = 90;

fn default_min_session_expires() -> u32 {
    RFC_MIN_SE
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Dialled number (B-number) as it arrives in the request-URI or To.
    pub did: String,
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Plain password: accepted for the demo; production configs store HA1 hashes.
    pub password: Option<String>,
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
    /// Digest algorithms this agent's phones are challenged with and may answer with,
    /// instead of `sip.digest_algorithms` (e.g. `["SHA-256"]` for a phone that does it).
    pub digest_algorithms: Option<Vec<String>>,
    /// Digits typed after `*45<id>` to log in from any registered phone.
    pub pin: Option<String>,
    /// ACD queues the agent serves (tier 1 unless `tiers` says otherwise).
    #[serde(default)]
    pub queues: Vec<String>,
    /// Tier per queue (1 = offered first; a queue's `start_tier` and `next_tier`
    /// escalation decide when higher tiers get its calls), e.g. `{ geral = 2 }`.
    #[serde(default)]
    pub tiers: BTreeMap<String, u8>,
    /// Skills and proficiency (1-10), e.g. `{ agendamento = 5 }`.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Logged in and available at the first start (demo); later starts restore the
    /// state the agent log last saw (`floor::agents`).
    #[serde(default)]
    pub auto_login: bool,
    /// How the desktop's `answer` makes this agent's phone pick up (`sip::talk_event`).
    #[serde(default)]
    pub auto_answer: AutoAnswer,
}

/// How a ringing phone is made to answer from the desktop (the CTI's `answer`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutoAnswer {
    /// The phone is answered by hand only; `answer` is refused `unavailable`.
    #[default]
    None,
    /// A SIP NOTIFY with `Event: talk` in the ringing call's early dialog (Yealink,
    /// Polycom, Snom and others answer it once told to accept remote control).
    NotifyTalk,
    /// Every offer's INVITE asks the phone to answer at once (`Call-Info: …;answer-after=0`
    /// and `Alert-Info: …;info=alert-autoanswer`): a headset agent's phone that picks up by
    /// itself; the desktop's `answer` is not needed (refused `unavailable`).
    CallInfo,
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
    vec!["MD5".into()]
}
fn default_user_agent() -> String {
    "atende".into()
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

    /// The ACD engine's configuration: the queues and the pause reasons' codes, in order.
    pub fn engine_config(&self) -> crate::acd::EngineConfig {
        crate::acd::EngineConfig {
            queues: self.queues.clone(),
            pause_reasons: self
                .acd
                .pause_reasons()
                .into_iter()
                .map(|r| r.code)
                .collect(),
        }
    }

    pub fn service_for_did(&self, did: &str) -> Option<(&str, &ServiceConfig)> {
        let route = self.routes.iter().find(|r| r.did == did)?;
        let service = self.services.get(&route.service)?;
        Some((route.service.as_str(), service))
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

    const DEMO: &str = include_str!("../../config/atende.toml");

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
        // Every queue and the direct demo service end in the satisfaction survey.
        for q in &queues {
            let s = survey::survey_for(&c.surveys, Some(q), "ura");
            assert_eq!(s.map(|s| s.0), Some("atendimento"), "queue {q}");
        }
        let s = survey::survey_for(&c.surveys, None, "demo");
        assert_eq!(s.map(|s| s.0), Some("atendimento"));
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = Config::parse("[sip\nlisten_udp = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
