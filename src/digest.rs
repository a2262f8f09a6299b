//! Server side of SIP digest authentication (RFC 3261 §22, RFC 2617/7616, RFC 8760 SHA-256).
//!
//! Pure: header strings and stored HA1 hashes in, a [`Verdict`] out; time is a parameter
//! (milliseconds on any clock that survives restarts, e.g. Unix time). Nonces are stateless
//! HMAC-SHA256 tokens carrying their issue time, so any worker with the key can check them;
//! only the nonce-count replay memory ([`NonceCounts`]) is state, and it is bounded.
//!
//! Limits: qop=auth only (auth-int is refused), no `userhash`, no `username*`. The `uri`
//! directive is not compared with the Request-URI here — proxies may rewrite it, so that
//! policy belongs to the caller.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest Authorization header value accepted, whole.
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// Longest single directive value accepted.
pub const MAX_VALUE_LEN: usize = 1024;
/// Default nonce lifetime: long enough for a phone to answer, short enough to limit replays.
pub const DEFAULT_NONCE_LIFETIME_MS: u64 = 5 * 60 * 1000;
/// Nonces "from the future" up to this much are tolerated (clock steps between workers).
const FUTURE_SKEW_MS: u64 = 5_000;
/// Raw nonce: issue time (8) + sequence (8) + truncated HMAC tag (16).
const NONCE_ID_LEN: usize = 16;
const NONCE_TAG_LEN: usize = 16;
const NONCE_HEX_LEN: usize = 2 * (NONCE_ID_LEN + NONCE_TAG_LEN);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("authorization header longer than {limit} bytes")]
    HeaderTooLong { limit: usize },
    #[error("authorization scheme is not Digest")]
    NotDigest,
    #[error("malformed digest parameters at byte {offset}")]
    Syntax { offset: usize },
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    #[error("parameter value longer than {limit} bytes")]
    ValueTooLong { limit: usize },
    #[error("parameter {0} given twice")]
    DuplicateField(&'static str),
    #[error("mandatory parameter {0} missing")]
    MissingField(&'static str),
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("unsupported qop {0:?}")]
    UnsupportedQop(String),
    #[error("nonce count must be 1 to 8 hex digits, not zero")]
    InvalidNonceCount,
    #[error("stored {algorithm} HA1 is not valid hex of the right length")]
    InvalidHa1 { algorithm: DigestAlgorithm },
}

/// Hash algorithms of RFC 7616/8760. The `-sess` variants derive a per-session HA1 from
/// the nonce and cnonce; they work from the same stored HA1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl DigestAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Case-insensitive parse of the `algorithm` directive value.
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(value))
    }

    pub fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    fn hash(self) -> HashKind {
        match self {
            Self::Md5 | Self::Md5Sess => HashKind::Md5,
            Self::Sha256 | Self::Sha256Sess => HashKind::Sha256,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy)]
enum HashKind {
    Md5,
    Sha256,
}

/// H(p1 ":" p2 ":" ...), the shape of every digest computation.
fn hash_joined(kind: HashKind, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = D::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                h.update(b":");
            }
            h.update(p);
        }
        h.finalize().to_vec()
    }
    match kind {
        HashKind::Md5 => run::<Md5>(parts),
        HashKind::Sha256 => run::<Sha256>(parts),
    }
}

/// The stored secret of one user: HA1 = H(user ":" realm ":" password) per hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1Set {
    md5: Option<[u8; 16]>,
    sha256: Option<[u8; 32]>,
}

impl fmt::Debug for Ha1Set {
    // Never print the hashes: HA1 is password-equivalent for this realm.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ha1Set")
            .field("md5", &self.md5.is_some())
            .field("sha256", &self.sha256.is_some())
            .finish()
    }
}

impl Ha1Set {
    pub fn from_password(user: &str, realm: &str, password: &str) -> Self {
        let parts: [&[u8]; 3] = [user.as_bytes(), realm.as_bytes(), password.as_bytes()];
        let mut md5 = [0u8; 16];
        md5.copy_from_slice(&hash_joined(HashKind::Md5, &parts));
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&hash_joined(HashKind::Sha256, &parts));
        Self {
            md5: Some(md5),
            sha256: Some(sha256),
        }
    }

    /// From configured hex strings; either may be absent to disable that algorithm.
    pub fn from_hex(md5_hex: Option<&str>, sha256_hex: Option<&str>) -> Result<Self, DigestError> {
        let decode = |hex_str: Option<&str>, algorithm, out: &mut [u8]| match hex_str {
            None => Ok(false),
            Some(s) => hex::decode_to_slice(s.trim(), out)
                .map(|()| true)
                .map_err(|_| DigestError::InvalidHa1 { algorithm }),
        };
        let mut md5 = [0u8; 16];
        let mut sha256 = [0u8; 32];
        let has_md5 = decode(md5_hex, DigestAlgorithm::Md5, &mut md5)?;
        let has_sha = decode(sha256_hex, DigestAlgorithm::Sha256, &mut sha256)?;
        Ok(Self {
            md5: has_md5.then_some(md5),
            sha256: has_sha.then_some(sha256),
        })
    }

    /// The same secrets, less the hashes none of `algorithms` uses: an answer with an
    /// algorithm the account was not offered is then rejected like a wrong one.
    pub fn only(&self, algorithms: &[DigestAlgorithm]) -> Self {
        let uses = |kind: fn(&HashKind) -> bool| algorithms.iter().any(|a| kind(&a.hash()));
        Self {
            md5: self.md5.filter(|_| uses(|k| matches!(k, HashKind::Md5))),
            sha256: self
                .sha256
                .filter(|_| uses(|k| matches!(k, HashKind::Sha256))),
        }
    }

    pub fn supports(&self, alg: DigestAlgorithm) -> bool {
        self.base(alg).is_some()
    }

    fn base(&self, alg: DigestAlgorithm) -> Option<&[u8]> {
        match alg.hash() {
            HashKind::Md5 => self.md5.as_ref().map(|h| h.as_slice()),
            HashKind::Sha256 => self.sha256.as_ref().map(|h| h.as_slice()),
        }
    }
}

/// Lower-case hex HA1 for the admin CLI (the `-sess` variants share the base HA1).
pub fn ha1_hex(alg: DigestAlgorithm, user: &str, realm: &str, password: &str) -> String {
    hex::encode(hash_joined(
        alg.hash(),
        &[user.as_bytes(), realm.as_bytes(), password.as_bytes()],
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    /// Genuine but too old (or from a clock that stepped back): re-challenge with stale=true.
    Stale,
    /// Not issued by us for this realm.
    Invalid,
}

struct ParsedNonce {
    id: [u8; NONCE_ID_LEN],
    issued_ms: u64,
}

/// Issues and checks stateless nonces for one realm.
pub struct NonceIssuer {
    key: [u8; 32],
    realm: String,
    lifetime_ms: u64,
    // Keeps nonces issued in the same millisecond distinct, so nonce counts never collide.
    seq: AtomicU64,
}

impl NonceIssuer {
    pub fn new(key: [u8; 32], realm: impl Into<String>) -> Self {
        Self {
            key,
            realm: realm.into(),
            lifetime_ms: DEFAULT_NONCE_LIFETIME_MS,
            seq: AtomicU64::new(0),
        }
    }

    pub fn with_lifetime_ms(mut self, lifetime_ms: u64) -> Self {
        self.lifetime_ms = lifetime_ms;
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    pub fn lifetime_ms(&self) -> u64 {
        self.lifetime_ms
    }

    pub fn issue(&self, now_ms: u64) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut raw = [0u8; NONCE_ID_LEN + NONCE_TAG_LEN];
        raw[..8].copy_from_slice(&now_ms.to_be_bytes());
        raw[8..16].copy_from_slice(&seq.to_be_bytes());
        let tag = self.tag(&raw[..NONCE_ID_LEN]);
        raw[NONCE_ID_LEN..].copy_from_slice(&tag[..NONCE_TAG_LEN]);
        hex::encode(raw)
    }

    pub fn check(&self, nonce: &str, now_ms: u64) -> NonceCheck {
        match self.parse(nonce) {
            None => NonceCheck::Invalid,
            Some(p) if self.is_fresh(p.issued_ms, now_ms) => NonceCheck::Valid,
            Some(_) => NonceCheck::Stale,
        }
    }

    fn is_fresh(&self, issued_ms: u64, now_ms: u64) -> bool {
        issued_ms <= now_ms.saturating_add(FUTURE_SKEW_MS)
            && now_ms.saturating_sub(issued_ms) <= self.lifetime_ms
    }

    fn tag(&self, id: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(b"atende-sip-nonce-v1:");
        mac.update(self.realm.as_bytes());
        mac.update(b":");
        mac.update(id);
        mac.finalize().into_bytes().into()
    }

    fn parse(&self, nonce: &str) -> Option<ParsedNonce> {
        if nonce.len() != NONCE_HEX_LEN {
            return None;
        }
        let mut raw = [0u8; NONCE_ID_LEN + NONCE_TAG_LEN];
        hex::decode_to_slice(nonce, &mut raw).ok()?;
        let tag = self.tag(&raw[..NONCE_ID_LEN]);
        if !bool::from(tag[..NONCE_TAG_LEN].ct_eq(&raw[NONCE_ID_LEN..])) {
            return None;
        }
        let mut id = [0u8; NONCE_ID_LEN];
        id.copy_from_slice(&raw[..NONCE_ID_LEN]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        Some(ParsedNonce {
            id,
            issued_ms: u64::from_be_bytes(ts),
        })
    }
}

enum CountOutcome {
    Fresh,
    Replay,
    /// Evicted while still live: we cannot tell a replay apart, so force a new nonce.
    Forgotten,
}

/// Highest nonce-count seen per nonce, bounded. Only requests whose response already
/// verified are recorded, so an attacker without credentials cannot fill it.
pub struct NonceCounts {
    capacity: usize,
    seen: HashMap<[u8; NONCE_ID_LEN], u32>,
    order: VecDeque<([u8; NONCE_ID_LEN], u64)>,
    // Nonces issued at or before this instant that we no longer remember are refused as stale.
    forgotten_up_to: Option<u64>,
}

impl NonceCounts {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
            forgotten_up_to: None,
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn observe(&mut self, n: &ParsedNonce, nc: u32, now_ms: u64, lifetime_ms: u64) -> CountOutcome {
        while let Some(&(id, issued)) = self.order.front() {
            if now_ms.saturating_sub(issued) <= lifetime_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&id);
        }
        if let Some(last) = self.seen.get_mut(&n.id) {
            if nc <= *last {
                return CountOutcome::Replay;
            }
            *last = nc;
            return CountOutcome::Fresh;
        }
        if self.forgotten_up_to.is_some_and(|t| n.issued_ms <= t) {
            return CountOutcome::Forgotten;
        }
        self.seen.insert(n.id, nc);
        self.order.push_back((n.id, n.issued_ms));
        while self.seen.len() > self.capacity {
            let Some((id, issued)) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&id);
            self.forgotten_up_to = Some(self.forgotten_up_to.unwrap_or(0).max(issued));
        }
        CountOutcome::Fresh
    }
}

/// `Digest` challenge header values (WWW-Authenticate / Proxy-Authenticate), one per
/// algorithm, in the given order (RFC 8760 §2.4: most preferred first); duplicates dropped.
pub fn challenge(
    realm: &str,
    nonce: &str,
    algorithms: &[DigestAlgorithm],
    stale: bool,
) -> Vec<String> {
    challenge_with_opaque(realm, nonce, None, algorithms, stale)
}

/// As [`challenge`], with an `opaque` directive for clients that insist on one.
pub fn challenge_with_opaque(
    realm: &str,
    nonce: &str,
    opaque: Option<&str>,
    algorithms: &[DigestAlgorithm],
    stale: bool,
) -> Vec<String> {
    // The operator's order is kept: it is how phones that read only the first header are
    // served (see `sip.digest_algorithms`).
    let mut algs: Vec<DigestAlgorithm> = Vec::with_capacity(algorithms.len());
    for a in algorithms {
        if !algs.contains(a) {
            algs.push(*a);
        }
    }
    algs.into_iter()
        .map(|alg| {
            let mut v = format!(
                "Digest realm={}, nonce={}, algorithm={alg}, qop=\"auth\"",
                quote(realm),
                quote(nonce)
            );
            if let Some(o) = opaque {
                v.push_str(", opaque=");
                v.push_str(&quote(o));
            }
            if stale {
                v.push_str(", stale=true");
            }
            v
        })
        .collect()
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
}

/// The `nc` directive: the raw text goes into the hash, the value into replay checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceCount {
    pub raw: String,
    pub value: u32,
}

/// A parsed `Authorization`/`Proxy-Authorization: Digest ...` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: DigestAlgorithm,
    pub qop: Option<Qop>,
    pub nc: Option<NonceCount>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
}

const FIELDS: [&str; 10] = [
    "username",
    "realm",
    "nonce",
    "uri",
    "response",
    "algorithm",
    "qop",
    "nc",
    "cnonce",
    "opaque",
];

pub fn parse_authorization(value: &str) -> Result<DigestResponse, DigestError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(DigestError::HeaderTooLong {
            limit: MAX_HEADER_LEN,
        });
    }
    let mut cur = Cursor { s: value, pos: 0 };
    cur.skip_ws();
    let scheme = cur.token();
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    let mut fields: [Option<String>; FIELDS.len()] = Default::default();
    loop {
        cur.skip_ws();
        match cur.peek() {
            None => break,
            Some(b',') => {
                cur.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let name_at = cur.pos;
        let name = cur.token();
        if name.is_empty() {
            return Err(DigestError::Syntax { offset: name_at });
        }
        cur.skip_ws();
        if cur.peek() != Some(b'=') {
            return Err(DigestError::Syntax { offset: cur.pos });
        }
        cur.pos += 1;
        cur.skip_ws();
        let val = cur.value()?;
        if let Some(i) = FIELDS.iter().position(|f| f.eq_ignore_ascii_case(name))
            && fields[i].replace(val).is_some()
        {
            return Err(DigestError::DuplicateField(FIELDS[i]));
        }
        cur.skip_ws();
        match cur.peek() {
            None | Some(b',') => {}
            Some(_) => return Err(DigestError::Syntax { offset: cur.pos }),
        }
    }
    let [
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        qop,
        nc,
        cnonce,
        opaque,
    ] = fields;
    let need = |v: Option<String>, name| v.ok_or(DigestError::MissingField(name));
    let algorithm = match algorithm {
        None => DigestAlgorithm::Md5,
        Some(a) => DigestAlgorithm::parse(&a).ok_or(DigestError::UnsupportedAlgorithm(a))?,
    };
    let qop = match qop {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
        Some(q) => return Err(DigestError::UnsupportedQop(q)),
    };
    let nc = nc.map(parse_nc).transpose()?;
    if qop.is_some() && nc.is_none() {
        return Err(DigestError::MissingField("nc"));
    }
    if (qop.is_some() || algorithm.is_session()) && cnonce.is_none() {
        return Err(DigestError::MissingField("cnonce"));
    }
    Ok(DigestResponse {
        username: need(username, "username")?,
        realm: need(realm, "realm")?,
        nonce: need(nonce, "nonce")?,
        uri: need(uri, "uri")?,
        response: need(response, "response")?,
        algorithm,
        qop,
        nc,
        cnonce,
        opaque,
    })
}

fn parse_nc(raw: String) -> Result<NonceCount, DigestError> {
    let ok_shape = (1..=8).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_hexdigit());
    match u32::from_str_radix(&raw, 16) {
        Ok(value) if ok_shape && value > 0 => Ok(NonceCount { raw, value }),
        _ => Err(DigestError::InvalidNonceCount),
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// RFC 3261 token characters; stops at anything else (always an ASCII boundary).
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn value(&mut self) -> Result<String, DigestError> {
        let too_long = DigestError::ValueTooLong {
            limit: MAX_VALUE_LEN,
        };
        if self.peek() != Some(b'"') {
            // Unquoted: lenient, anything up to a separator (some phones send uri= bare).
            let start = self.pos;
            while self
                .peek()
                .is_some_and(|b| !matches!(b, b',' | b' ' | b'\t' | b'\r' | b'\n' | b'"'))
            {
                self.pos += 1;
            }
            if self.pos == start {
                return Err(DigestError::Syntax { offset: start });
            }
            if self.pos - start > MAX_VALUE_LEN {
                return Err(too_long);
            }
            return Ok(self.s[start..self.pos].to_owned());
        }
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.s[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            let c = match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => chars.next().ok_or(DigestError::UnterminatedQuote)?.1,
                c => c,
            };
            if out.len() + c.len_utf8() > MAX_VALUE_LEN {
                return Err(too_long);
            }
            out.push(c);
        }
        Err(DigestError::UnterminatedQuote)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    RealmMismatch,
    /// No HA1 stored for the algorithm the client chose.
    AlgorithmUnavailable(DigestAlgorithm),
    /// Forged, corrupted or foreign nonce.
    InvalidNonce,
    /// Wrong password (or a mangled response value).
    BadResponse,
    /// Nonce count not above the last one accepted for this nonce.
    Replay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Credentials were right but the nonce is old: re-challenge with stale=true.
    Stale,
    Rejected(RejectReason),
}

/// Checks a parsed response for a request with `method` against the user's stored HA1.
/// The caller looks the user up by `resp.username` and counts `Rejected` as a failure.
pub fn verify(
    resp: &DigestResponse,
    method: &str,
    ha1: &Ha1Set,
    issuer: &NonceIssuer,
    counts: &mut NonceCounts,
    now_ms: u64,
) -> Verdict {
    if resp.realm != issuer.realm {
        return Verdict::Rejected(RejectReason::RealmMismatch);
    }
    let Some(base) = ha1.base(resp.algorithm) else {
        return Verdict::Rejected(RejectReason::AlgorithmUnavailable(resp.algorithm));
    };
    let Some(nonce) = issuer.parse(&resp.nonce) else {
        return Verdict::Rejected(RejectReason::InvalidNonce);
    };
    let expected = expected_response(resp, method, base);
    let mut given = vec![0u8; expected.len()];
    let decoded = hex::decode_to_slice(resp.response.trim(), &mut given).is_ok();
    if !decoded || !bool::from(expected.ct_eq(&given)) {
        return Verdict::Rejected(RejectReason::BadResponse);
    }
    if !issuer.is_fresh(nonce.issued_ms, now_ms) {
        return Verdict::Stale;
    }
    let Some(nc) = resp.nc.as_ref().filter(|_| resp.qop.is_some()) else {
        // RFC 2069 style: reusable until the nonce expires, as such phones expect.
        return Verdict::Ok;
    };
    match counts.observe(&nonce, nc.value, now_ms, issuer.lifetime_ms) {
        CountOutcome::Fresh => Verdict::Ok,
        CountOutcome::Replay => Verdict::Rejected(RejectReason::Replay),
        CountOutcome::Forgotten => Verdict::Stale,
    }
}

/// The response digest a correct client computes (RFC 7616 §3.4.1).
fn expected_response(resp: &DigestResponse, method: &str, base_ha1: &[u8]) -> Vec<u8> {
    let kind = resp.algorithm.hash();
    let cnonce = resp.cnonce.as_deref().unwrap_or("");
    let ha1 = if resp.algorithm.is_session() {
        let base = hex::encode(base_ha1);
        let parts: [&[u8]; 3] = [base.as_bytes(), resp.nonce.as_bytes(), cnonce.as_bytes()];
        hex::encode(hash_joined(kind, &parts))
    } else {
        hex::encode(base_ha1)
    };
    let ha2 = hex::encode(hash_joined(kind, &[method.as_bytes(), resp.uri.as_bytes()]));
    match (&resp.qop, &resp.nc) {
        (Some(Qop::Auth), Some(nc)) => hash_joined(
            kind,
            &[
                ha1.as_bytes(),
                resp.nonce.as_bytes(),
                nc.raw.as_bytes(),
                cnonce.as_bytes(),
                b"auth",
                ha2.as_bytes(),
            ],
        ),
        _ => hash_joined(
            kind,
            &[ha1.as_bytes(), resp.nonce.as_bytes(), ha2.as_bytes()],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 32] = [7; 32];
    const REALM: &str = "atende.test";
    const T0: u64 = 1_700_000_000_000;

    fn h(alg: DigestAlgorithm, s: &str) -> String {
        match alg.hash() {
            HashKind::Md5 => hex::encode(Md5::digest(s.as_bytes())),
            HashKind::Sha256 => hex::encode(Sha256::digest(s.as_bytes())),
        }
    }

    /// What a phone does on receiving our challenge: written out independently of the server.
    fn phone_answer(chal: &str, alg: DigestAlgorithm, user: &str, pass: &str, nc: u32) -> String {
        let field = |name: &str| {
            let at = chal
                .find(&format!("{name}=\""))
                .expect("field in challenge")
                + name.len()
                + 2;
            chal[at..]
                .split('"')
                .next()
                .expect("closing quote")
                .to_owned()
        };
        let (realm, nonce) = (field("realm"), field("nonce"));
        let (uri, cnonce, nc) = ("sip:atende.test", "0a4f113b", format!("{nc:08x}"));
        let mut ha1 = h(alg, &format!("{user}:{realm}:{pass}"));
        if alg.is_session() {
            ha1 = h(alg, &format!("{ha1}:{nonce}:{cnonce}"));
        }
        let ha2 = h(alg, &format!("REGISTER:{uri}"));
        let response = h(alg, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        format!(
            "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm={alg}, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
        )
    }

    struct Server {
        issuer: NonceIssuer,
        counts: NonceCounts,
        ha1: Ha1Set,
    }

    fn server() -> Server {
        Server {
            issuer: NonceIssuer::new(KEY, REALM),
            counts: NonceCounts::new(64),
            ha1: Ha1Set::from_password("1001", REALM, "s3cret"),
        }
    }

    impl Server {
        fn challenge_for(&self, alg: DigestAlgorithm, now: u64) -> String {
            challenge(REALM, &self.issuer.issue(now), &[alg], false).remove(0)
        }
        fn verify(&mut self, header: &str, now: u64) -> Verdict {
            let resp = parse_authorization(header).expect("phone header parses");
            verify(
                &resp,
                "REGISTER",
                &self.ha1,
                &self.issuer,
                &mut self.counts,
                now,
            )
        }
    }

    fn rfc_response(
        alg: DigestAlgorithm,
        realm: &str,
        pass: &str,
        nonce: &str,
        cnonce: &str,
    ) -> String {
        let resp = DigestResponse {
            username: "Mufasa".into(),
            realm: realm.into(),
            nonce: nonce.into(),
            uri: "/dir/index.html".into(),
            response: String::new(),
            algorithm: alg,
            qop: Some(Qop::Auth),
            nc: Some(NonceCount {
                raw: "00000001".into(),
                value: 1,
            }),
            cnonce: Some(cnonce.into()),
            opaque: None,
        };
        let ha1 = Ha1Set::from_password("Mufasa", realm, pass);
        let base = ha1.base(alg).expect("both hashes present");
        hex::encode(expected_response(&resp, "GET", base))
    }

    #[test]
    fn rfc2617_md5_vector() {
        let got = rfc_response(
            DigestAlgorithm::Md5,
            "testrealm@host.com",
            "Circle Of Life",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "0a4f113b",
        );
        assert_eq!(got, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_vectors() {
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let realm = "http-auth@example.org";
        let sha = rfc_response(
            DigestAlgorithm::Sha256,
            realm,
            "Circle of Life",
            nonce,
            cnonce,
        );
        assert_eq!(
            sha,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = rfc_response(DigestAlgorithm::Md5, realm, "Circle of Life", nonce, cnonce);
        assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn parses_rfc2617_header() {
        let r = parse_authorization(
            "Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, \
             nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("valid header");
        assert_eq!(r.username, "Mufasa");
        assert_eq!(r.realm, "testrealm@host.com");
        assert_eq!(r.algorithm, DigestAlgorithm::Md5);
        assert_eq!(r.qop, Some(Qop::Auth));
        assert_eq!(
            r.nc,
            Some(NonceCount {
                raw: "00000001".into(),
                value: 1
            })
        );
        assert_eq!(
            r.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
    }

    #[test]
    fn parser_is_lenient_where_phones_differ() {
        let r = parse_authorization(
            "digest  REALM = \"a\\\"b\" ,, Uri=sip:x@y;transport=udp,username=\"u\",foo=\"bar, baz\",\
             nonce=n,response=\"00\",algorithm=\"sha-256\",qop=\"AUTH\",cnonce=c,nc=1,",
        )
        .expect("lenient header");
        assert_eq!(r.realm, "a\"b");
        assert_eq!(r.uri, "sip:x@y;transport=udp");
        assert_eq!(r.algorithm, DigestAlgorithm::Sha256);
        assert_eq!(
            r.nc,
            Some(NonceCount {
                raw: "1".into(),
                value: 1
            })
        );
    }

    #[test]
    fn parser_reports_typed_errors() {
        let base = "username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a\", response=\"00\"";
        let p = |s: &str| parse_authorization(s);
        assert_eq!(p(&format!("Basic {base}")), Err(DigestError::NotDigest));
        assert_eq!(
            p("Digest realm=\"r\""),
            Err(DigestError::MissingField("username"))
        );
        assert_eq!(p("Digest realm=\"r"), Err(DigestError::UnterminatedQuote));
        assert_eq!(p("Digest realm=\"r\\"), Err(DigestError::UnterminatedQuote));
        assert!(matches!(p("Digest realm"), Err(DigestError::Syntax { .. })));
        assert!(matches!(
            p("Digest realm=\"a\"b"),
            Err(DigestError::Syntax { .. })
        ));
        assert!(matches!(p("Digest =x"), Err(DigestError::Syntax { .. })));
        assert_eq!(
            p(&format!("Digest {base}, realm=x")),
            Err(DigestError::DuplicateField("realm"))
        );
        assert_eq!(
            p(&format!("Digest {base}, algorithm=SHA-512-256")),
            Err(DigestError::UnsupportedAlgorithm("SHA-512-256".into()))
        );
        assert_eq!(
            p(&format!("Digest {base}, qop=auth-int, nc=1, cnonce=c")),
            Err(DigestError::UnsupportedQop("auth-int".into()))
        );
        assert_eq!(
            p(&format!("Digest {base}, qop=auth, cnonce=c")),
            Err(DigestError::MissingField("nc"))
        );
        assert_eq!(
            p(&format!("Digest {base}, qop=auth, nc=1")),
            Err(DigestError::MissingField("cnonce"))
        );
        assert_eq!(
            p(&format!("Digest {base}, algorithm=MD5-sess")),
            Err(DigestError::MissingField("cnonce"))
        );
        for nc in ["0", "123456789", "xyz", "+1"] {
            assert_eq!(
                p(&format!("Digest {base}, qop=auth, cnonce=c, nc={nc}")),
                Err(DigestError::InvalidNonceCount)
            );
        }
        let long = "a".repeat(MAX_VALUE_LEN + 1);
        assert_eq!(
            p(&format!("Digest {base}, opaque=\"{long}\"")),
            Err(DigestError::ValueTooLong {
                limit: MAX_VALUE_LEN
            })
        );
        assert_eq!(
            p(&format!("Digest {base}, opaque={long}")),
            Err(DigestError::ValueTooLong {
                limit: MAX_VALUE_LEN
            })
        );
        assert_eq!(
            p(&"x".repeat(MAX_HEADER_LEN + 1)),
            Err(DigestError::HeaderTooLong {
                limit: MAX_HEADER_LEN
            })
        );
    }

    #[test]
    fn challenge_keeps_the_configured_order_without_duplicates() {
        let c = challenge(
            "r\"x",
            "abc",
            &[
                DigestAlgorithm::Sha256,
                DigestAlgorithm::Md5,
                DigestAlgorithm::Sha256,
            ],
            true,
        );
        assert_eq!(
            c,
            vec![
                "Digest realm=\"r\\\"x\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\", stale=true",
                "Digest realm=\"r\\\"x\", nonce=\"abc\", algorithm=MD5, qop=\"auth\", stale=true",
            ]
        );
        let o = challenge_with_opaque("r", "n", Some("op"), &[DigestAlgorithm::Md5], false);
        assert_eq!(
            o,
            vec!["Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\", opaque=\"op\""]
        );
    }

    #[test]
    fn round_trip_every_algorithm() {
        for alg in [
            DigestAlgorithm::Md5,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Md5Sess,
            DigestAlgorithm::Sha256Sess,
        ] {
            let mut s = server();
            let chal = s.challenge_for(alg, T0);
            let header = phone_answer(&chal, alg, "1001", "s3cret", 1);
            assert_eq!(s.verify(&header, T0 + 1_000), Verdict::Ok, "{alg}");
            let next = phone_answer(&chal, alg, "1001", "s3cret", 2);
            assert_eq!(s.verify(&next, T0 + 2_000), Verdict::Ok, "{alg} nc=2");
        }
    }

    #[test]
    fn wrong_password_rejected() {
        let mut s = server();
        let chal = s.challenge_for(DigestAlgorithm::Sha256, T0);
        let header = phone_answer(&chal, DigestAlgorithm::Sha256, "1001", "guess", 1);
        assert_eq!(
            s.verify(&header, T0),
            Verdict::Rejected(RejectReason::BadResponse)
        );
    }

    #[test]
    fn replayed_nonce_count_rejected() {
        let mut s = server();
        let chal = s.challenge_for(DigestAlgorithm::Md5, T0);
        let first = phone_answer(&chal, DigestAlgorithm::Md5, "1001", "s3cret", 5);
        assert_eq!(s.verify(&first, T0), Verdict::Ok);
        assert_eq!(
            s.verify(&first, T0 + 1),
            Verdict::Rejected(RejectReason::Replay)
        );
        let lower = phone_answer(&chal, DigestAlgorithm::Md5, "1001", "s3cret", 4);
        assert_eq!(
            s.verify(&lower, T0 + 2),
            Verdict::Rejected(RejectReason::Replay)
        );
    }

    #[test]
    fn expired_nonce_is_stale_only_with_right_password() {
        let mut s = server();
        let chal = s.challenge_for(DigestAlgorithm::Sha256, T0);
        let late = T0 + DEFAULT_NONCE_LIFETIME_MS + 1;
        let good = phone_answer(&chal, DigestAlgorithm::Sha256, "1001", "s3cret", 1);
        assert_eq!(s.verify(&good, late), Verdict::Stale);
        let bad = phone_answer(&chal, DigestAlgorithm::Sha256, "1001", "nope", 1);
        assert_eq!(
            s.verify(&bad, late),
            Verdict::Rejected(RejectReason::BadResponse)
        );
    }

    #[test]
    fn tampered_or_foreign_nonce_rejected() {
        let mut s = server();
        let nonce = s.issuer.issue(T0);
        // Move the embedded issue time forward by one: the tag no longer matches.
        let mut raw = hex::decode(&nonce).expect("our nonce is hex");
        raw[7] ^= 1;
        let forged = hex::encode(raw);
        let chal = challenge(REALM, &forged, &[DigestAlgorithm::Md5], false).remove(0);
        let header = phone_answer(&chal, DigestAlgorithm::Md5, "1001", "s3cret", 1);
        assert_eq!(
            s.verify(&header, T0),
            Verdict::Rejected(RejectReason::InvalidNonce)
        );
        assert_eq!(s.issuer.check(&forged, T0), NonceCheck::Invalid);
        assert_eq!(s.issuer.check("zz", T0), NonceCheck::Invalid);
        let other_realm = NonceIssuer::new(KEY, "other");
        assert_eq!(other_realm.check(&nonce, T0), NonceCheck::Invalid);
        assert_eq!(s.issuer.check(&nonce, T0), NonceCheck::Valid);
        assert_eq!(
            s.issuer.check(&nonce, T0 - 60_000),
            NonceCheck::Stale,
            "clock stepped back"
        );
        assert_eq!(
            s.issuer.check(&nonce, T0 + DEFAULT_NONCE_LIFETIME_MS + 1),
            NonceCheck::Stale
        );
        assert_ne!(
            s.issuer.issue(T0),
            s.issuer.issue(T0),
            "same-ms nonces differ"
        );
    }

    #[test]
    fn an_account_held_to_sha256_refuses_md5_answers() {
        let mut s = server();
        s.ha1 = s.ha1.only(&[DigestAlgorithm::Sha256]);
        let chal = s.challenge_for(DigestAlgorithm::Md5, T0);
        let header = phone_answer(&chal, DigestAlgorithm::Md5, "1001", "s3cret", 1);
        assert_eq!(
            s.verify(&header, T0),
            Verdict::Rejected(RejectReason::AlgorithmUnavailable(DigestAlgorithm::Md5))
        );
        let chal = s.challenge_for(DigestAlgorithm::Sha256Sess, T0);
        let header = phone_answer(&chal, DigestAlgorithm::Sha256Sess, "1001", "s3cret", 2);
        assert_eq!(s.verify(&header, T0), Verdict::Ok, "-sess shares the hash");
    }

    #[test]
    fn realm_and_algorithm_checked() {
        let mut s = server();
        let chal = challenge(
            "elsewhere",
            &s.issuer.issue(T0),
            &[DigestAlgorithm::Md5],
            false,
        );
        let header = phone_answer(&chal[0], DigestAlgorithm::Md5, "1001", "s3cret", 1);
        assert_eq!(
            s.verify(&header, T0),
            Verdict::Rejected(RejectReason::RealmMismatch)
        );

        let md5 = ha1_hex(DigestAlgorithm::Md5, "1001", REALM, "s3cret");
        s.ha1 = Ha1Set::from_hex(Some(&md5), None).expect("valid hex");
        let chal = s.challenge_for(DigestAlgorithm::Sha256, T0);
        let header = phone_answer(&chal, DigestAlgorithm::Sha256, "1001", "s3cret", 1);
        assert_eq!(
            s.verify(&header, T0),
            Verdict::Rejected(RejectReason::AlgorithmUnavailable(DigestAlgorithm::Sha256))
        );
        let chal = s.challenge_for(DigestAlgorithm::Md5, T0);
        let header = phone_answer(&chal, DigestAlgorithm::Md5, "1001", "s3cret", 1);
        assert_eq!(
            s.verify(&header, T0),
            Verdict::Ok,
            "HA1 from hex config works"
        );
    }

    #[test]
    fn ha1_hex_config_validated_and_not_printed() {
        let sha = ha1_hex(DigestAlgorithm::Sha256, "1001", REALM, "s3cret");
        let set = Ha1Set::from_hex(None, Some(&sha)).expect("valid");
        assert!(set.supports(DigestAlgorithm::Sha256Sess) && !set.supports(DigestAlgorithm::Md5));
        assert_eq!(set, {
            let mut full = Ha1Set::from_password("1001", REALM, "s3cret");
            full.md5 = None;
            full
        });
        assert!(!format!("{set:?}").contains(&sha[..8]));
        assert_eq!(
            Ha1Set::from_hex(Some("abcd"), None),
            Err(DigestError::InvalidHa1 {
                algorithm: DigestAlgorithm::Md5
            })
        );
    }

    #[test]
    fn rfc2069_style_without_qop_reusable_within_lifetime() {
        let mut s = server();
        let nonce = s.issuer.issue(T0);
        let ha1 = h(DigestAlgorithm::Md5, &format!("1001:{REALM}:s3cret"));
        let ha2 = h(DigestAlgorithm::Md5, "REGISTER:sip:atende.test");
        let resp = h(DigestAlgorithm::Md5, &format!("{ha1}:{nonce}:{ha2}"));
        let header = format!(
            "Digest username=\"1001\", realm=\"{REALM}\", nonce=\"{nonce}\", \
             uri=\"sip:atende.test\", response=\"{resp}\""
        );
        assert_eq!(s.verify(&header, T0 + 10), Verdict::Ok);
        assert_eq!(s.verify(&header, T0 + 60_000), Verdict::Ok);
        assert_eq!(
            s.verify(&header, T0 + DEFAULT_NONCE_LIFETIME_MS + 1),
            Verdict::Stale
        );
    }

    #[test]
    fn evicted_live_nonce_forces_fresh_challenge() {
        let mut s = server();
        s.counts = NonceCounts::new(2);
        let chals: Vec<String> = (0..3)
            .map(|i| s.challenge_for(DigestAlgorithm::Md5, T0 + i))
            .collect();
        for c in &chals {
            let header = phone_answer(c, DigestAlgorithm::Md5, "1001", "s3cret", 1);
            assert_eq!(s.verify(&header, T0 + 10), Verdict::Ok);
        }
        assert_eq!(s.counts.len(), 2, "bounded");
        // The first nonce was forgotten: its replay must not pass as fresh.
        let replay = phone_answer(&chals[0], DigestAlgorithm::Md5, "1001", "s3cret", 1);
        assert_eq!(s.verify(&replay, T0 + 20), Verdict::Stale);
        // Dead nonces are purged as time passes.
        let fresh = s.challenge_for(DigestAlgorithm::Md5, T0 + 400_000);
        let header = phone_answer(&fresh, DigestAlgorithm::Md5, "1001", "s3cret", 1);
        assert_eq!(s.verify(&header, T0 + 400_001), Verdict::Ok);
        assert_eq!(s.counts.len(), 1);
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,300}") {
            let _ = parse_authorization(&s);
            let _ = parse_authorization(&format!("Digest {s}"));
        }

        #[test]
        fn parser_never_panics_on_near_valid(
            parts in proptest::collection::vec(
                ("[a-zA-Z]{1,9}", "[ \t]{0,2}", prop_oneof!["\"[^\"]{0,20}\"", "[!-~]{0,12}", "\"[\\\\\"a]{0,6}"]),
                0..12,
            )
        ) {
            let body: Vec<String> = parts.iter().map(|(n, w, v)| format!("{n}{w}={w}{v}")).collect();
            let header = format!("Digest {}", body.join(","));
            if let Ok(r) = parse_authorization(&header) {
                let issuer = NonceIssuer::new(KEY, REALM);
                let mut counts = NonceCounts::new(4);
                let ha1 = Ha1Set::from_password("u", REALM, "p");
                prop_assert_ne!(verify(&r, "REGISTER", &ha1, &issuer, &mut counts, T0), Verdict::Ok);
            }
        }
    }
}
