//! The rules a parsed config must satisfy beyond its syntax (`Config::check`) and the
//! error naming the offending setting (`Invalid`). Pure: no files or sockets.

use std::collections::HashSet;

use super::*;

/// A semantic error in an otherwise well-formed config, naming the offending setting.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("{0}")]
    Closing(String),
    #[error("{0}")]
    Reports(#[from] super::reports::DefinitionsError),
    #[error(
        "http.allowed_origins: {0:?} is not an origin (scheme://host[:port], http or https, no path)"
    )]
    AllowedOrigin(String),
    #[error("media.rtp_port_min ({min}) must be even and below media.rtp_port_max ({max})")]
    PortRange { min: u16, max: u16 },
    #[error("media.codecs: unknown codec {0:?} (known: PCMA, PCMU, opus)")]
    UnknownCodec(String),
    #[error("{field}: {value:?} is not one of MD5, SHA-256 (and the list may not be empty)")]
    DigestAlgorithm { field: String, value: String },
    #[error(
        "agent {agent:?}: digest_algorithms lists {algorithm} but the agent has no secret for it (give password or ha1_{hash})"
    )]
    AgentAlgorithmWithoutSecret {
        agent: String,
        algorithm: String,
        hash: &'static str,
    },
    #[error(
        "trunk {0:?}: digest_algorithms needs username and password (it has no credentials to check)"
    )]
    TrunkAlgorithmsWithoutCredentials(String),
    #[error(
        "sip.user_agent must be printable ASCII without line breaks (it goes into a SIP header)"
    )]
    UserAgent,
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
    #[error(
        "http.admin_token is no longer used: the API takes users' sessions. Remove it and add an admin with [[users]] (password_hash from `atende user hash`) or `atende user add NAME --role admin`"
    )]
    AdminTokenRemoved,
    #[error("http.tls_cert and http.tls_key go together: give both for HTTPS, or neither")]
    TlsHalf,
    #[error("http.session_idle_secs and session_max_secs must be at least 1")]
    SessionTimes,
    #[error("user {user:?}: {problem}")]
    User { user: String, problem: String },
    #[error("service {0:?} has ivr = true but there is no [ivr] section")]
    NoIvr(String),
    #[error("service {0:?} needs a welcome_prompt (or ivr = true)")]
    NoWelcome(String),
    #[error("agent {agent:?} serves unknown queue {queue:?}")]
    UnknownQueue { agent: String, queue: String },
    #[error(
        "agent {agent:?}: tier {tier} for queue {queue:?}: tiers start at 1 and name a queue listed in the agent's `queues`"
    )]
    Tier {
        agent: String,
        queue: String,
        tier: u8,
    },
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
    #[error("acd.pause_reasons: {code:?}: {why}")]
    PauseReason { code: String, why: &'static str },
    #[error("acd.note_max_chars must be between 1 and 10000 (got {0})")]
    NoteLength(usize),
    #[error("dispositions: {code:?}: {why}")]
    Disposition { code: String, why: String },
    #[error("queue {queue:?}: {why}")]
    ScreenPop { queue: String, why: String },
    #[error("{0}")]
    Contract(#[from] crate::contract::SettingsError),
    #[error("quality.{0}")]
    Quality(String),
    #[error("{0}")]
    Survey(#[from] super::survey::SurveyProblem),
    #[error("{0}")]
    Mail(#[from] super::mail::MailInvalid),
    #[error("{0}")]
    Wallboard(#[from] super::wallboard::WallboardInvalid),
    #[error("{0}")]
    Alarms(#[from] super::alarms::AlarmsInvalid),
    #[error("{0}")]
    Team(#[from] super::teams::TeamProblem),
}

impl Config {
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
        self.sip.algorithms()?;
        if let Some(mail) = &self.mail {
            mail.check(&self.timezone)?;
        }
        if let Some(alarms) = &self.alarms {
            alarms.check(self.mail.is_some())?;
        }
        if self.sip.user_agent.is_empty()
            || !self
                .sip
                .user_agent
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(Invalid::UserAgent);
        }
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            return Err(Invalid::TimeZone(self.timezone.clone()));
        }
        self.reports.check()?;
        self.wallboard.check()?;
        self.closing.check().map_err(Invalid::Closing)?;
        if self.http.admin_token.is_some() {
            return Err(Invalid::AdminTokenRemoved);
        }
        // A browser's Origin is exactly scheme://host[:port]: anything else never matches.
        for o in &self.http.allowed_origins {
            let host = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .unwrap_or("");
            if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
                return Err(Invalid::AllowedOrigin(o.clone()));
            }
        }
        if self.http.tls_cert.is_some() != self.http.tls_key.is_some() {
            return Err(Invalid::TlsHalf);
        }
        if self.http.session_idle_secs == 0 || self.http.session_max_secs == 0 {
            return Err(Invalid::SessionTimes);
        }
        super::teams::check(self)?;
        self.check_users()?;
        self.contract.contract()?;
        self.quality.check().map_err(Invalid::Quality)?;
        let url = &self.database.url;
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return Err(Invalid::DatabaseUrl(url.clone()));
        }
        for t in &self.trunks {
            t.networks()?;
            t.algorithms(&self.sip)?;
            if t.digest_algorithms.is_some() && (t.username.is_none() || t.password.is_none()) {
                return Err(Invalid::TrunkAlgorithmsWithoutCredentials(t.name.clone()));
            }
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
            a.algorithms(&self.sip)?;
        }
        let queues: HashSet<&str> = self.queues.iter().map(|q| q.id.as_str()).collect();
        for a in &self.agents {
            if let Some(q) = a.queues.iter().find(|q| !queues.contains(q.as_str())) {
                return Err(Invalid::UnknownQueue {
                    agent: a.id.clone(),
                    queue: q.clone(),
                });
            }
            if let Some((queue, tier)) = a
                .tiers
                .iter()
                .find(|(q, t)| **t == 0 || !a.queues.contains(q))
            {
                return Err(Invalid::Tier {
                    agent: a.id.clone(),
                    queue: queue.clone(),
                    tier: *tier,
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
        self.check_desk()?;
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
        super::survey::check(
            &self.surveys,
            self.queues.iter().map(|q| q.id.as_str()),
            self.services.keys().map(String::as_str),
        )?;
        Ok(())
    }
}

impl Config {
    /// `[[users]]`: plain unique names, a PHC hash, agents linked to a configured agent,
    /// queues that exist.
    fn check_users(&self) -> Result<(), Invalid> {
        let bad = |user: &str, problem: String| Invalid::User {
            user: user.to_owned(),
            problem,
        };
        let mut names = HashSet::new();
        for u in &self.users {
            if !super::users::name_ok(&u.name) {
                return Err(bad(&u.name, format!("invalid user name: {}", u.name)));
            }
            if !names.insert(u.name.as_str()) {
                return Err(bad(&u.name, "appears twice".into()));
            }
            if !super::users::is_argon2_phc(&u.password_hash) {
                return Err(bad(
                    &u.name,
                    "password_hash is not an argon2 PHC string (`atende user hash` prints one)"
                        .into(),
                ));
            }
            match (&u.role, &u.agent) {
                (super::users::Role::Agent, None) => {
                    return Err(bad(
                        &u.name,
                        "role agent needs agent = \"<agent id>\"".into(),
                    ));
                }
                (_, Some(a)) if !self.agents.iter().any(|x| &x.id == a) => {
                    return Err(bad(&u.name, format!("agent {a:?} is not in [[agents]]")));
                }
                _ => {}
            }
            if let Some(q) = u
                .queues
                .iter()
                .find(|q| !self.queues.iter().any(|x| x.id.as_str() == q.as_str()))
            {
                return Err(bad(&u.name, format!("queue {q:?} is not in [[queues]]")));
            }
            if let Some(t) = self.unknown_teams(&u.teams).first() {
                return Err(bad(&u.name, format!("team {t:?} is not in [teams]")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/atende.toml");

    #[test]
    fn route_to_unknown_service_is_refused_with_its_name() {
        let bad = DEMO.replace("service = \"demo\"", "service = \"nope\"");
        let err = Config::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn an_allowed_origin_with_a_path_is_refused_and_cti_defaults_apply() {
        let ok = Config::parse(&DEMO.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nallowed_origins = [\"https://crm.example:8443\"]",
        ))
        .expect("a valid origin");
        assert_eq!(ok.http.allowed_origins, ["https://crm.example:8443"]);
        assert_eq!(ok.cti, crate::config::CtiSettings::default());
        let bad = DEMO.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nallowed_origins = [\"https://crm.example/desk\"]",
        );
        assert!(matches!(
            Config::parse(&bad),
            Err(ConfigError::Invalid(Invalid::AllowedOrigin(o))) if o == "https://crm.example/desk"
        ));
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

    #[test]
    fn the_removed_admin_token_is_refused_pointing_to_users() {
        let bad = DEMO.replacen(
            "[http]\n",
            "[http]\nadmin_token = \"0123456789abcdef\"\n",
            1,
        );
        let err = Config::parse(&bad).unwrap_err().to_string();
        assert!(
            err.contains("[[users]]") && err.contains("atende user add"),
            "{err}"
        );
    }

    #[test]
    fn half_a_tls_setting_is_refused() {
        let bad = DEMO.replacen("[http]\n", "[http]\ntls_cert = \"c.pem\"\n", 1);
        assert!(matches!(
            Config::parse(&bad),
            Err(ConfigError::Invalid(Invalid::TlsHalf))
        ));
    }

    #[test]
    fn users_are_checked() {
        let demo = Config::parse(DEMO).expect("demo");
        assert_eq!(demo.users.len(), 11);
        for (from, to, says) in [
            (
                "agent = \"1001\"\npassword_hash",
                "agent = \"9999\"\npassword_hash",
                "9999",
            ),
            ("name = \"supervisora\"", "name = \"admin\"", "twice"),
            (
                "password_hash = \"$argon2id",
                "password_hash = \"x$argon2id",
                "PHC",
            ),
            (
                "queues = [\"geral\", \"pericia\", \"beneficios\", \"pagamentos\", \"acessibilidade\"]\npassword_hash",
                "queues = [\"nenhuma\"]\npassword_hash",
                "nenhuma",
            ),
            (
                "role = \"agent\"\nagent = \"1001\"\n",
                "role = \"agent\"\n",
                "needs agent",
            ),
        ] {
            assert!(DEMO.contains(from), "{from}");
            let err = Config::parse(&DEMO.replacen(from, to, 1))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{from}: {err}");
        }
    }
}
