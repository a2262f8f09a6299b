//! Live reload of the config file: `atende reload`, SIGHUP and `POST /api/config/reload`
//! all end here.
//!
//! The file is read and put through every check start-up runs (`Config::check`, then
//! `checks::problems`: prompts in the library, callback prompts, queues' IVR targets, queues
//! named by the flows — the same list `atende check-config` runs offline); any
//! problem refuses the whole change and the running config stays. Settings only a restart
//! can change (listen addresses, database, recording, media, HTTP, time zone, realm and
//! digest settings, the IVR directory, having queues at all) are refused by name: an
//! operator sees at once what did not apply instead of a silent half-change.
//!
//! Applied in this order, so that a refusal by the ACD still leaves everything as it was:
//! the ACD's queues and agents, the registrar's secrets, then the config new calls take.
//! Calls in progress keep the config they started with (`Floor::config`).
//! One reload at a time; each ends in one log line (INFO with what changed, or ERROR with
//! why not) and in the /metrics counters. Nothing secret is logged: names, never secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tracing::{error, info};

use crate::config::Config;
use crate::floor::Floor;

mod checks;
pub mod cli;

pub use checks::{callback_prompts, problems as start_problems, problems_offline};

pub use crate::floor::Reloads;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("this server was not started from a config file: nothing to reload")]
    NoFile,
    #[error("another reload is in progress; try again when it ends")]
    Busy,
    #[error("config refused, the running config is unchanged: {}", .0.join("; "))]
    Refused(Vec<String>),
}

/// Added, removed and changed entries of one kind, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Tally {
    fn between<T: PartialEq>(old: &BTreeMap<String, &T>, new: &BTreeMap<String, &T>) -> Tally {
        let mut t = Tally::default();
        for (k, v) in new {
            match old.get(k) {
                None => t.added.push(k.clone()),
                Some(o) if o != v => t.changed.push(k.clone()),
                Some(_) => {}
            }
        }
        t.removed = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect();
        t
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "+{} -{} ~{}",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        )
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub agents: Tally,
    pub queues: Tally,
    pub trunks: Tally,
    /// By DID.
    pub routes: Tally,
    pub services: Tally,
    /// `[teams.NAME]`, by key: users' scopes follow at their next request.
    #[serde(default)]
    pub teams: Tally,
    /// Anything else that applies live (outbound, pause reasons, max_calls, http_rewrite).
    pub other: bool,
}

impl Changes {
    pub fn between(old: &Config, new: &Config) -> Changes {
        fn by<T>(items: &[T], key: impl Fn(&T) -> String) -> BTreeMap<String, &T> {
            items.iter().map(|i| (key(i), i)).collect()
        }
        fn services(c: &Config) -> BTreeMap<String, &crate::config::ServiceConfig> {
            c.services.iter().map(|(k, v)| (k.clone(), v)).collect()
        }
        let other = old.sip.max_calls != new.sip.max_calls
            || old.outbound != new.outbound
            || old.acd != new.acd
            || old.dispositions != new.dispositions
            || old.ivr.as_ref().map(|i| &i.http_rewrite)
                != new.ivr.as_ref().map(|i| &i.http_rewrite);
        Changes {
            agents: Tally::between(
                &by(&old.agents, |a| a.id.clone()),
                &by(&new.agents, |a| a.id.clone()),
            ),
            queues: Tally::between(
                &by(&old.queues, |q| q.id.to_string()),
                &by(&new.queues, |q| q.id.to_string()),
            ),
            trunks: Tally::between(
                &by(&old.trunks, |t| t.name.clone()),
                &by(&new.trunks, |t| t.name.clone()),
            ),
            routes: Tally::between(
                &by(&old.routes, |r| r.did.clone()),
                &by(&new.routes, |r| r.did.clone()),
            ),
            services: Tally::between(&services(old), &services(new)),
            teams: Tally::between(
                &old.teams.iter().map(|(k, v)| (k.clone(), v)).collect(),
                &new.teams.iter().map(|(k, v)| (k.clone(), v)).collect(),
            ),
            other,
        }
    }

    pub fn is_empty(&self) -> bool {
        [
            &self.agents,
            &self.queues,
            &self.trunks,
            &self.routes,
            &self.services,
            &self.teams,
        ]
        .iter()
        .all(|t| t.is_empty())
            && !self.other
    }

    /// What changed, by name: "agents added 2001; queues removed acessibilidade; …".
    pub fn named(&self) -> String {
        let mut parts = Vec::new();
        for (kind, t) in [
            ("agents", &self.agents),
            ("queues", &self.queues),
            ("trunks", &self.trunks),
            ("routes", &self.routes),
            ("services", &self.services),
            ("teams", &self.teams),
        ] {
            for (how, names) in [
                ("added", &t.added),
                ("removed", &t.removed),
                ("changed", &t.changed),
            ] {
                if !names.is_empty() {
                    parts.push(format!("{kind} {how} {}", names.join(",")));
                }
            }
        }
        if self.other {
            parts.push("other settings changed".to_owned());
        }
        parts.join("; ")
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "agents {}, queues {}, trunks {}, routes {}, services {}, teams {}{}",
            self.agents,
            self.queues,
            self.trunks,
            self.routes,
            self.services,
            self.teams,
            if self.other {
                ", other settings changed"
            } else {
                ""
            }
        )
    }
}

/// The settings that differ and that only a restart can change, by name.
pub fn restart_only(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut check = |name: &'static str, same: bool| {
        if !same {
            v.push(name);
        }
    };
    let (a, b) = (&old.sip, &new.sip);
    check("timezone", old.timezone == new.timezone);
    // The stored report intervals are computed with these (rebuilt at start if changed).
    check("reports", old.reports == new.reports);
    check("sip.listen_udp", a.listen_udp == b.listen_udp);
    check("sip.listen_tcp", a.listen_tcp == b.listen_tcp);
    check("sip.public_address", a.public_address == b.public_address);
    check("sip.realm", a.realm == b.realm);
    check(
        "sip.min_expires_secs",
        a.min_expires_secs == b.min_expires_secs,
    );
    check(
        "sip.max_expires_secs",
        a.max_expires_secs == b.max_expires_secs,
    );
    check(
        "sip.auth_max_failures",
        a.auth_max_failures == b.auth_max_failures,
    );
    check(
        "sip.digest_algorithms",
        a.digest_algorithms == b.digest_algorithms,
    );
    let (a, b) = (&old.media, &new.media);
    check("media.rtp_ip", a.rtp_ip == b.rtp_ip);
    check("media.public_ip", a.public_ip == b.public_ip);
    check("media.rtp_port_min", a.rtp_port_min == b.rtp_port_min);
    check("media.rtp_port_max", a.rtp_port_max == b.rtp_port_max);
    check("media.codecs", a.codecs == b.codecs);
    check("media.threads", a.threads == b.threads);
    check("media.batch_ms", a.batch_ms == b.batch_ms);
    check("media.shared_ports", a.shared_ports == b.shared_ports);
    check("media.io_uring", a.io_uring == b.io_uring);
    check("http.listen", old.http.listen == new.http.listen);
    check(
        "http.tls_cert/tls_key",
        (&old.http.tls_cert, &old.http.tls_key) == (&new.http.tls_cert, &new.http.tls_key),
    );
    check(
        "http.session_idle_secs/session_max_secs",
        (old.http.session_idle_secs, old.http.session_max_secs)
            == (new.http.session_idle_secs, new.http.session_max_secs),
    );
    check("database.url", old.database.url == new.database.url);
    check("recording.dir", old.recording.dir == new.recording.dir);
    check(
        "recording.format",
        old.recording.format == new.recording.format,
    );
    check("prompts.dir", old.prompts.dir == new.prompts.dir);
    check(
        "[ivr] (added, removed or another dir)",
        old.ivr.as_ref().map(|i| &i.dir) == new.ivr.as_ref().map(|i| &i.dir),
    );
    check(
        "[[queues]] (from none to some, or to none)",
        old.queues.is_empty() == new.queues.is_empty(),
    );
    v
}

/// Every problem that stops `new` from replacing the running `old` config.
fn problems(ex: &Floor, old: &Config, new: &Config) -> Vec<String> {
    let mut problems: Vec<String> = restart_only(old, new)
        .into_iter()
        .map(|s| format!("{s} cannot change while the server runs (restart to apply it)"))
        .collect();
    let flows = ex.flows.as_ref().map(|f| f.current());
    problems.extend(checks::problems(new, &ex.prompts, flows.as_ref()));
    problems
}

/// Reads the config file again and applies it, or refuses it whole.
pub async fn reload(ex: &Floor) -> Result<Changes, ReloadError> {
    let result = attempt(ex).await;
    let r = &ex.reloads;
    match &result {
        Ok(changes) => {
            r.accepted.fetch_add(1, Ordering::Relaxed);
            r.last_ok.store(true, Ordering::Relaxed);
            info!(%changes, "config reloaded: new calls take it, calls in progress finish on theirs");
        }
        Err(ReloadError::Busy) => error!("config reload refused: another is in progress"),
        Err(e) => {
            r.refused.fetch_add(1, Ordering::Relaxed);
            r.last_ok.store(false, Ordering::Relaxed);
            error!(error = %e, "config reload refused");
        }
    }
    result
}

async fn attempt(ex: &Floor) -> Result<Changes, ReloadError> {
    let path = ex.reloads.file().ok_or(ReloadError::NoFile)?;
    if ex.reloads.running.swap(true, Ordering::AcqRel) {
        return Err(ReloadError::Busy);
    }
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let _done = Done(&ex.reloads.running);
    let new = Config::load(path).map_err(|e| ReloadError::Refused(vec![e.to_string()]))?;
    let old = ex.config();
    let problems = problems(ex, &old, &new);
    if !problems.is_empty() {
        return Err(ReloadError::Refused(problems));
    }
    let changes = Changes::between(&old, &new);
    if let Some(acd) = &ex.acd {
        acd.reconfigure(new.engine_config(), new.agents.clone())
            .await
            .map_err(|e| ReloadError::Refused(vec![format!("ACD: {e}")]))?;
    }
    match ex.edge() {
        Some(edge) => edge.set_accounts(&new),
        None => tracing::warn!("reload without a SIP edge: phone accounts not updated"),
    }
    if let Some(flows) = &ex.flows {
        // Later flow reloads are checked against the queues that now exist.
        flows.set_queues(new.queues.iter().map(|q| q.id.to_string()).collect());
    }
    ex.swap_config(Arc::new(new));
    Ok(changes)
}

/// What goes in the audit log's detail for a reload's `result`: the outcome and, by
/// name, what changed or why not (names only: `Changes` carries no secrets).
pub fn audit_detail(result: &Result<Changes, ReloadError>) -> String {
    match result {
        Ok(changes) if changes.is_empty() => "applied: nothing changed".to_owned(),
        Ok(changes) => format!("applied: {}", changes.named()),
        Err(ReloadError::Refused(problems)) => format!("refused: {}", problems.join("; ")),
        Err(e) => format!("not run: {e}"),
    }
}

/// Makes `file` the one reloads read, and reloads on every SIGHUP until the process ends
/// (the usual daemon convention). Each SIGHUP reload, applied or refused, is written to
/// the audit log with the actor `signal`, as the API's reloads are with the user's name.
pub fn enable(ex: &Arc<Floor>, file: PathBuf, audit: crate::audit::Audit) {
    ex.reloads.set_file(file);
    let ex = ex.clone();
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGHUP: reload through the API or `atende reload`");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            info!("SIGHUP: reloading the config");
            let result = reload(&ex).await;
            audit
                .record("signal", "config.reload", "SIGHUP", &audit_detail(&result))
                .await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/atende.toml");

    fn parse(text: &str) -> Config {
        Config::parse(text).expect("valid config")
    }

    #[test]
    fn an_unchanged_config_changes_nothing() {
        let c = parse(DEMO);
        let d = Changes::between(&c, &c);
        assert!(d.is_empty(), "{d}");
        assert!(restart_only(&c, &c).is_empty());
        assert_eq!(
            d.to_string(),
            "agents +0 -0 ~0, queues +0 -0 ~0, trunks +0 -0 ~0, routes +0 -0 ~0, services +0 -0 ~0, teams +0 -0 ~0"
        );
    }

    #[test]
    fn added_removed_and_changed_entries_are_named() {
        let old = parse(DEMO);
        let mut new = old.clone();
        let mut agent = new.agents[0].clone();
        agent.id = "2001".into();
        new.agents.push(agent);
        new.agents[1].skills.insert("libras".into(), 3);
        new.routes.retain(|r| r.did != "08000000001");
        new.routes.push(crate::config::RouteConfig {
            did: "08009999999".into(),
            service: "ura".into(),
        });
        new.queues.pop();
        let d = Changes::between(&old, &new);
        assert_eq!(d.agents.added, ["2001"]);
        assert_eq!(d.agents.changed, [old.agents[1].id.clone()]);
        assert_eq!(d.routes.added, ["08009999999"]);
        assert_eq!(d.routes.removed, ["08000000001"]);
        assert_eq!(d.queues.removed, ["acessibilidade"]);
        assert!(d.trunks.is_empty() && d.services.is_empty() && !d.other);
        assert_eq!(
            d.named(),
            format!(
                "agents added 2001; agents changed {}; queues removed acessibilidade; routes added 08009999999; routes removed 08000000001",
                old.agents[1].id
            )
        );
        assert!(
            d.to_string()
                .starts_with("agents +1 -0 ~1, queues +0 -1 ~0"),
            "{d}"
        );
    }

    #[test]
    fn restart_only_settings_are_named() {
        let old = parse(DEMO);
        let new = parse(
            &DEMO
                .replace("rtp_port_min = 20000", "rtp_port_min = 20100")
                .replacen("session_idle_secs = 1800", "session_idle_secs = 60", 1),
        );
        let mut new = new;
        new.sip.max_calls += 1; // live
        new.database.url = "sqlite://elsewhere.db".into();
        assert_eq!(
            restart_only(&old, &new),
            [
                "media.rtp_port_min",
                "http.session_idle_secs/session_max_secs",
                "database.url"
            ]
        );
        assert!(Changes::between(&old, &new).other);
        let mut none = old.clone();
        none.queues.clear();
        assert_eq!(
            restart_only(&old, &none),
            ["[[queues]] (from none to some, or to none)"]
        );
    }

    #[test]
    fn changes_never_carry_secrets() {
        let old = parse(DEMO);
        let mut new = old.clone();
        new.agents[0].password = Some("a-new-secret".into());
        let d = Changes::between(&old, &new);
        assert_eq!(d.agents.changed, [old.agents[0].id.clone()]);
        let shown = format!("{d} {}", serde_json::to_string(&d).unwrap());
        assert!(!shown.contains("a-new-secret"), "{shown}");
    }
}
