//! The registrar shell: REGISTER requests in, 200/401/403/423 out, agent phones located.
//!
//! Owns the agents' digest secrets (HA1 hashes), the location table and the per-source
//! failure limiter, behind one std `Mutex` that is never held across an `.await`. The rules
//! themselves live in the pure modules `digest`, `location` and `auth_limit`; this file only
//! reads requests, reads the clock, and writes responses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rsipstack::sip::StatusCode;
use rsipstack::transaction::transaction::Transaction;
use tracing::{info, warn};

use crate::config::Config;
use crate::digest::{self, DigestAlgorithm, Ha1Set, NonceCounts, NonceIssuer, Verdict};
use crate::sip::auth_limit::{Admission, AuthLimiter};
use crate::sip::location::{
    Binding, ContactParam, LocationTable, RegisterError, RegisterRequest, Transport,
};
use crate::sip::request;

/// How long a source that failed too often stays blocked.
const BLOCK_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// The verdict on a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    Authenticated(String),
    /// No or stale credentials: answer 401 with a fresh challenge.
    Challenge {
        stale: bool,
    },
    /// Wrong credentials, unknown user or malformed header: 403.
    Forbidden(&'static str),
    /// Too many failures from this source: 403 without even checking.
    Blocked,
}

struct Tables {
    location: LocationTable,
    counts: NonceCounts,
    limiter: AuthLimiter,
    /// Wrong agent PINs (feature-code logins) per source. Apart from `limiter`: a PIN is
    /// tried after a successful digest, whose success must not wipe the PIN failures.
    pins: AuthLimiter,
}

/// One account's secrets, kept only for the algorithms it may use, and its challenge order.
struct Account {
    ha1: Ha1Set,
    algorithms: Vec<DigestAlgorithm>,
}

/// Who may authenticate: agents (REGISTER, feature codes) and trunks (INVITE).
struct Accounts {
    agents: HashMap<String, Account>,
    /// Gateways that authenticate their INVITEs instead of (or besides) an allow-list.
    trunks: HashMap<String, Account>,
    /// Challenge order for gateways: which trunk asks is known only from its answer, so
    /// every credentialed trunk's algorithms are offered (in config order).
    trunk_algorithms: Vec<DigestAlgorithm>,
}

impl Accounts {
    fn from_config(config: &Config) -> Accounts {
        let realm = &config.sip.realm;
        // The config was checked: an entry that fails here cannot occur; it is skipped.
        let agents = config
            .agents
            .iter()
            .filter_map(|a| {
                let account = Account::new(a.ha1(realm).ok()?, a.algorithms(&config.sip).ok()?);
                Some((a.id.clone(), account))
            })
            .collect();
        let mut trunk_algorithms = Vec::new();
        let trunks = config
            .trunks
            .iter()
            .filter_map(|t| {
                let (user, pw) = (t.username.as_ref()?, t.password.as_ref()?);
                let algs = t.algorithms(&config.sip).ok()?;
                for a in &algs {
                    if !trunk_algorithms.contains(a) {
                        trunk_algorithms.push(*a);
                    }
                }
                let ha1 = Ha1Set::from_password(user, realm, pw);
                Some((user.clone(), Account::new(ha1, algs)))
            })
            .collect();
        Accounts {
            agents,
            trunks,
            trunk_algorithms,
        }
    }
}

pub struct Registrar {
    realm: String,
    /// Replaced whole by a config reload; read (an `Arc` clone) once per request.
    accounts: RwLock<Arc<Accounts>>,
    nonces: NonceIssuer,
    /// Challenge order for a user atende does not know, from `sip.digest_algorithms`.
    algorithms: Vec<DigestAlgorithm>,
    tables: Mutex<Tables>,
}

impl Account {
    fn new(ha1: Ha1Set, algorithms: Vec<DigestAlgorithm>) -> Self {
        Account {
            ha1: ha1.only(&algorithms),
            algorithms,
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Registrar {
    pub fn new(config: &Config, nonce_key: [u8; 32]) -> Self {
        let realm = config.sip.realm.clone();
        // The config was checked: an entry that fails here cannot occur; it is skipped.
        let algorithms = config.sip.algorithms().unwrap_or_default();
        let accounts = RwLock::new(Arc::new(Accounts::from_config(config)));
        Registrar {
            algorithms,
            nonces: NonceIssuer::new(nonce_key, realm.clone()),
            realm,
            accounts,
            tables: Mutex::new(Tables {
                location: LocationTable::new(
                    config.sip.min_expires_secs,
                    config.sip.max_expires_secs,
                    10,
                ),
                counts: NonceCounts::new(65_536),
                limiter: AuthLimiter::new(
                    config.sip.auth_max_failures,
                    std::time::Duration::from_secs(60),
                    BLOCK_FOR,
                    65_536,
                ),
                pins: AuthLimiter::new(
                    config.sip.auth_max_failures,
                    std::time::Duration::from_secs(60),
                    BLOCK_FOR,
                    65_536,
                ),
            }),
        }
    }

    /// Takes the agents' and trunks' secrets of a reloaded config (same realm): removed
    /// agents can no longer authenticate, new ones can, changed passwords apply at once.
    pub fn set_accounts(&self, config: &Config) {
        let next = Arc::new(Accounts::from_config(config));
        *self.accounts.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    fn accounts(&self) -> Arc<Accounts> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding this lock cannot leave the tables half-updated in a way
        // that matters more than losing registrations, so recover the guard.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Challenge headers (`WWW-Authenticate` for a 401, `Proxy-Authenticate` for a 407)
    /// for the agent account a request claims to be: that account's algorithms, or the
    /// server's default for a user it does not know (revealing nothing about who exists).
    pub fn challenge_headers(
        &self,
        header: &str,
        stale: bool,
        user: Option<&str>,
    ) -> Vec<rsipstack::sip::Header> {
        let accounts = self.accounts();
        let algorithms = user
            .and_then(|u| accounts.agents.get(u))
            .map_or(&self.algorithms, |a| &a.algorithms);
        self.challenge(header, stale, algorithms)
    }

    fn challenge(
        &self,
        header: &str,
        stale: bool,
        algorithms: &[DigestAlgorithm],
    ) -> Vec<rsipstack::sip::Header> {
        let nonce = self.nonces.issue(unix_ms());
        digest::challenge(&self.realm, &nonce, algorithms, stale)
            .into_iter()
            .map(|v| request::raw_header(header, v))
            .collect()
    }

    /// Checks an agent's Authorization header on a request from `ip`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        method: &str,
        ip: IpAddr,
    ) -> AuthOutcome {
        self.check(&self.accounts().agents, authorization, method, ip)
    }

    /// Checks a trunk's Proxy-Authorization header; no trunk credentials means no way in.
    pub fn authenticate_trunk(
        &self,
        authorization: Option<&str>,
        method: &str,
        ip: IpAddr,
    ) -> AuthOutcome {
        let accounts = self.accounts();
        if accounts.trunks.is_empty() {
            return AuthOutcome::Forbidden("source not in any trunk allow-list");
        }
        self.check(&accounts.trunks, authorization, method, ip)
    }

    /// Challenge headers for a 407 to a trunk.
    pub fn trunk_challenge_headers(&self, stale: bool) -> Vec<rsipstack::sip::Header> {
        self.challenge(
            "Proxy-Authenticate",
            stale,
            &self.accounts().trunk_algorithms,
        )
    }

    fn check(
        &self,
        accounts: &HashMap<String, Account>,
        authorization: Option<&str>,
        method: &str,
        ip: IpAddr,
    ) -> AuthOutcome {
        let now = Instant::now();
        let mut t = self.tables();
        if let Admission::Blocked { .. } = t.limiter.check(ip, now) {
            return AuthOutcome::Blocked;
        }
        let Some(value) = authorization else {
            return AuthOutcome::Challenge { stale: false };
        };
        let resp = match digest::parse_authorization(value) {
            Ok(r) => r,
            Err(e) => {
                warn!(%ip, error = %e, "malformed Authorization header");
                t.limiter.record_failure(ip, now);
                return AuthOutcome::Forbidden("malformed credentials");
            }
        };
        let Some(Account { ha1, .. }) = accounts.get(&resp.username) else {
            t.limiter.record_failure(ip, now);
            return AuthOutcome::Forbidden("bad credentials");
        };
        let Tables {
            counts, limiter, ..
        } = &mut *t;
        match digest::verify(&resp, method, ha1, &self.nonces, counts, unix_ms()) {
            Verdict::Ok => {
                limiter.record_success(ip);
                AuthOutcome::Authenticated(resp.username.clone())
            }
            Verdict::Stale => AuthOutcome::Challenge { stale: true },
            Verdict::Rejected(reason) => {
                warn!(%ip, user = %resp.username, ?reason, "authentication failed");
                limiter.record_failure(ip, now);
                AuthOutcome::Forbidden("bad credentials")
            }
        }
    }

    /// Whether this source may try an agent PIN now (not blocked for guessing).
    pub fn pin_allowed(&self, ip: IpAddr) -> bool {
        !matches!(
            self.tables().pins.check(ip, Instant::now()),
            Admission::Blocked { .. }
        )
    }

    /// Counts a wrong agent PIN from this source; too many within a minute block it from
    /// trying PINs for the same time as failed digests.
    pub fn record_pin_failure(&self, ip: IpAddr) {
        self.tables().pins.record_failure(ip, Instant::now());
    }

    /// Live bindings of an agent's phones.
    pub fn contacts(&self, aor: &str) -> Vec<Binding> {
        let t = self.tables();
        t.location
            .lookup(aor, Instant::now())
            .into_iter()
            .cloned()
            .collect()
    }

    pub fn registrations(&self) -> usize {
        let mut t = self.tables();
        t.location.expire(Instant::now());
        t.location.len()
    }

    pub async fn handle(&self, tx: &mut Transaction) {
        let outcome = self.register(tx);
        let result = match outcome {
            Ok((status, headers)) => tx.reply_with(status, headers, None).await,
            Err(status) => tx.reply(status).await,
        };
        if let Err(e) = result {
            warn!(error = %e, "could not answer REGISTER");
        }
    }

    fn register(
        &self,
        tx: &Transaction,
    ) -> Result<(StatusCode, Vec<rsipstack::sip::Header>), StatusCode> {
        let req = &tx.original;
        let source = request::source(tx).ok_or(StatusCode::BadRequest)?;
        let auth = request::header(req, "Authorization");
        let user = match self.authenticate(auth.as_deref(), "REGISTER", source.ip()) {
            AuthOutcome::Authenticated(u) => u,
            AuthOutcome::Challenge { stale } => {
                let user = request::to_user(req);
                let headers = self.challenge_headers("WWW-Authenticate", stale, user.as_deref());
                return Ok((StatusCode::Unauthorized, headers));
            }
            AuthOutcome::Forbidden(why) => {
                info!(%source, why, "REGISTER refused");
                return Err(StatusCode::Forbidden);
            }
            AuthOutcome::Blocked => {
                warn!(%source, "REGISTER from a blocked source");
                return Err(StatusCode::Forbidden);
            }
        };
        let aor = request::to_user(req).ok_or(StatusCode::BadRequest)?;
        if aor != user {
            info!(%source, %user, %aor, "REGISTER for another user's address refused");
            return Err(StatusCode::Forbidden);
        }
        let reg = register_request(tx, source)?;
        let now = Instant::now();
        let result = self.tables().location.register(&aor, reg, now);
        match result {
            Ok(bindings) => {
                info!(%aor, %source, contacts = bindings.len(), "registered");
                let headers = bindings
                    .iter()
                    .map(|b| {
                        let left = b.expires_at.saturating_duration_since(now).as_secs();
                        request::raw_header("Contact", format!("<{}>;expires={left}", b.contact))
                    })
                    .collect();
                Ok((StatusCode::OK, headers))
            }
            Err(RegisterError::IntervalTooBrief { min }) => Ok((
                StatusCode::IntervalTooBrief,
                vec![request::raw_header("Min-Expires", min.to_string())],
            )),
            Err(e) => {
                info!(%aor, %source, error = %e, "REGISTER rejected");
                Err(StatusCode::BadRequest)
            }
        }
    }
}

/// Reads the REGISTER's contacts, expiry and ordering headers.
fn register_request(tx: &Transaction, source: SocketAddr) -> Result<RegisterRequest, StatusCode> {
    let req = &tx.original;
    let mut contacts = Vec::new();
    let mut star = false;
    for value in request::header_values(req, "Contact")
        .into_iter()
        .chain(request::header_values(req, "m"))
    {
        if value == "*" {
            star = true;
            continue;
        }
        contacts.push(parse_contact(&value).ok_or(StatusCode::BadRequest)?);
    }
    Ok(RegisterRequest {
        contacts,
        star,
        expires_header: request::header(req, "Expires").and_then(|v| v.trim().parse().ok()),
        call_id: request::call_id(req).ok_or(StatusCode::BadRequest)?,
        cseq: request::cseq(req).ok_or(StatusCode::BadRequest)?,
        received: source,
        transport: if request::is_reliable(tx) {
            Transport::Tcp
        } else {
            Transport::Udp
        },
    })
}

/// `"Name" <sip:1001@10.0.0.5:5060;transport=udp>;expires=60;q=0.5;+sip.instance="<urn:…>"`
fn parse_contact(value: &str) -> Option<ContactParam> {
    let (uri, params) = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => (&value[a + 1..b], &value[b + 1..]),
        _ => match value.split_once(';') {
            Some((u, p)) => (u, p),
            None => (value, ""),
        },
    };
    let uri = uri.trim();
    if !(uri.starts_with("sip:") || uri.starts_with("sips:")) {
        return None;
    }
    let mut c = ContactParam {
        uri: uri.to_owned(),
        expires: None,
        q: None,
        instance: None,
    };
    for p in params.split(';') {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "expires" => c.expires = v.parse().ok(),
            "q" => c.q = v.parse().ok(),
            "+sip.instance" => c.instance = Some(v.to_owned()),
            _ => {}
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_contact_params() {
        let c = parse_contact(r#""Ag" <sip:1001@127.0.0.1:5070;transport=udp>;expires=60;q=0.5;+sip.instance="<urn:uuid:1>""#).unwrap();
        assert_eq!(c.uri, "sip:1001@127.0.0.1:5070;transport=udp");
        assert_eq!(c.expires, Some(60));
        assert_eq!(c.q, Some(0.5));
        assert_eq!(c.instance.as_deref(), Some("<urn:uuid:1>"));
        let bare = parse_contact("sip:1001@127.0.0.1;expires=0").unwrap();
        assert_eq!(bare.expires, Some(0));
        assert!(parse_contact("<mailto:x@y>").is_none());
    }

    #[test]
    fn each_agent_is_challenged_with_its_own_algorithms() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/atende.toml");
        let text = std::fs::read_to_string(path).unwrap().replacen(
            "password = \"demo1001\"",
            "password = \"demo1001\"\ndigest_algorithms = [\"SHA-256\"]",
            1,
        );
        let r = Registrar::new(&Config::parse(&text).unwrap(), [7; 32]);
        let algorithms = |user: Option<&str>| -> Vec<String> {
            r.challenge_headers("WWW-Authenticate", false, user)
                .iter()
                .map(|h| {
                    let v = h.to_string();
                    assert!(v.starts_with("WWW-Authenticate: Digest "), "{v}");
                    let at = v.find("algorithm=").unwrap() + 10;
                    v[at..].split(',').next().unwrap().to_owned()
                })
                .collect()
        };
        assert_eq!(algorithms(Some("1001")), ["SHA-256"]);
        assert_eq!(algorithms(Some("1002")), ["MD5"]);
        assert_eq!(algorithms(None), ["MD5"], "unknown users get the default");
        assert_eq!(algorithms(Some("9999")), ["MD5"]);
    }

    /// A gateway's answer to `challenge` with `alg` (RFC 2617 style, no qop).
    fn gateway_answer(challenge: &str, alg: &str, user: &str, pass: &str) -> String {
        use sha2::Digest;
        let h = |s: String| match alg {
            "MD5" => hex::encode(md5::Md5::digest(s.as_bytes())),
            _ => hex::encode(sha2::Sha256::digest(s.as_bytes())),
        };
        let at = challenge.find("nonce=\"").unwrap() + 7;
        let nonce = challenge[at..].split('"').next().unwrap();
        let uri = "sip:08000000000@atende";
        let ha1 = h(format!("{user}:atende:{pass}"));
        let ha2 = h(format!("INVITE:{uri}"));
        let response = h(format!("{ha1}:{nonce}:{ha2}"));
        format!(
            "Digest username=\"{user}\", realm=\"atende\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={alg}"
        )
    }

    #[test]
    fn trunks_are_offered_every_trunk_algorithm_and_held_to_their_own() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/atende.toml");
        let text = std::fs::read_to_string(path).unwrap().replace(
            "allow = [\"127.0.0.0/8\"]",
            "allow = [\"127.0.0.0/8\"]\n\n[[trunks]]\nname = \"old\"\nusername = \"old\"\npassword = \"p1\"\n\n\
             [[trunks]]\nname = \"new\"\nusername = \"new\"\npassword = \"p2\"\ndigest_algorithms = [\"SHA-256\"]",
        );
        let r = Registrar::new(&Config::parse(&text).unwrap(), [7; 32]);
        let challenges: Vec<String> = r
            .trunk_challenge_headers(false)
            .iter()
            .map(|h| h.to_string())
            .collect();
        assert_eq!(challenges.len(), 2, "{challenges:?}");
        assert!(challenges[0].starts_with("Proxy-Authenticate: Digest "));
        assert!(challenges[0].contains("algorithm=MD5"));
        assert!(challenges[1].contains("algorithm=SHA-256"));
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        let answer = |alg: &str, user: &str, pass: &str| {
            let h = gateway_answer(&challenges[0], alg, user, pass);
            r.authenticate_trunk(Some(&h), "INVITE", ip)
        };
        assert_eq!(
            answer("MD5", "old", "p1"),
            AuthOutcome::Authenticated("old".into())
        );
        assert_eq!(
            answer("SHA-256", "new", "p2"),
            AuthOutcome::Authenticated("new".into())
        );
        assert!(
            matches!(answer("MD5", "new", "p2"), AuthOutcome::Forbidden(_)),
            "the SHA-256 trunk cannot be answered with MD5"
        );
        assert!(
            matches!(answer("SHA-256", "old", "p1"), AuthOutcome::Forbidden(_)),
            "the MD5 trunk is held to MD5"
        );
    }

    #[test]
    fn wrong_pins_block_their_source_from_further_tries() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/atende.toml");
        let config = Config::load(&path).unwrap();
        let r = Registrar::new(&config, [7; 32]);
        let (guesser, other): (IpAddr, IpAddr) =
            ("10.0.0.9".parse().unwrap(), "10.0.0.10".parse().unwrap());
        for _ in 0..config.sip.auth_max_failures {
            assert!(r.pin_allowed(guesser));
            r.record_pin_failure(guesser);
        }
        assert!(
            !r.pin_allowed(guesser),
            "blocked after the allowed failures"
        );
        assert!(r.pin_allowed(other), "other sources unaffected");
    }
}
