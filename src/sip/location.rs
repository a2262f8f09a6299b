//! The registrar's location table (RFC 3261 §10.3): which contacts each address-of-record
//! (AOR, the user part such as "1001") can be reached at, and until when.
//!
//! Pure: the caller has already authenticated the REGISTER and extracted its fields; time
//! is passed in. A request is applied all-or-nothing: on any error the table is unchanged.
//! Contacts match an existing binding by `+sip.instance` when both carry one (RFC 5626,
//! so a phone whose address changed replaces its old binding) and otherwise by exact URI
//! text — full RFC 3261 §19.1.4 URI equivalence is not attempted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    /// Answer 423 with `Min-Expires: min`.
    #[error("registration interval too brief, minimum is {min} s")]
    IntervalTooBrief { min: u32 },
    /// `Contact: *` is only valid alone and with `Expires: 0` (answer 400).
    #[error("wildcard contact needs Expires: 0 and no other contacts")]
    InvalidWildcard,
    /// Same Call-ID with a CSeq not above the stored one: a stale or reordered REGISTER.
    #[error("out-of-order REGISTER: CSeq {cseq} not above stored {stored}")]
    OutOfOrder { cseq: u32, stored: u32 },
    #[error("too many contacts for this address of record (max {max})")]
    TooManyContacts { max: usize },
    #[error("contact q-value {0} outside 0..=1")]
    InvalidQ(f32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Contact URI exactly as the phone gave it.
    pub contact: String,
    /// Source of the REGISTER: where to send requests when the phone is behind NAT.
    pub received: SocketAddr,
    pub transport: Transport,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    pub q: Option<f32>,
    /// `+sip.instance` (RFC 5626), when the phone sent one.
    pub instance: Option<String>,
}

impl Binding {
    /// Seconds left, for the `expires` parameter of the 200 OK Contact.
    pub fn expires_in(&self, now: Instant) -> u32 {
        let left = self.expires_at.saturating_duration_since(now).as_secs();
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    fn is_live(&self, now: Instant) -> bool {
        self.expires_at > now
    }

    fn matches(&self, c: &ContactParam) -> bool {
        match (&self.instance, &c.instance) {
            (Some(a), Some(b)) => a == b,
            _ => self.contact == c.uri,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactParam {
    pub uri: String,
    /// The contact's own `expires` parameter; overrides the Expires header.
    pub expires: Option<u32>,
    pub q: Option<f32>,
    pub instance: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRequest {
    pub contacts: Vec<ContactParam>,
    /// `Contact: *`.
    pub star: bool,
    pub expires_header: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub received: SocketAddr,
    pub transport: Transport,
}

/// Registrar limits, all in seconds except `max_contacts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarPolicy {
    pub default_expires: u32,
    pub min_expires: u32,
    pub max_expires: u32,
    pub max_contacts: usize,
}

impl Default for RegistrarPolicy {
    fn default() -> Self {
        Self {
            default_expires: 3600,
            min_expires: 60,
            max_expires: 3600,
            max_contacts: 10,
        }
    }
}

#[derive(Debug, Default)]
pub struct LocationTable {
    policy: RegistrarPolicy,
    bindings: HashMap<String, Vec<Binding>>,
}

impl LocationTable {
    /// Default expiry 3600 s (capped to `max_expires`); see [`RegistrarPolicy`].
    pub fn new(min_expires: u32, max_expires: u32, max_contacts: usize) -> Self {
        Self::with_policy(RegistrarPolicy {
            min_expires,
            max_expires,
            max_contacts,
            ..RegistrarPolicy::default()
        })
    }

    pub fn with_policy(policy: RegistrarPolicy) -> Self {
        Self {
            policy,
            bindings: HashMap::new(),
        }
    }

    pub fn policy(&self) -> &RegistrarPolicy {
        &self.policy
    }

    /// Applies one REGISTER and returns the AOR's bindings afterwards (for the 200 OK).
    /// An empty contact list without `*` is a query and changes nothing.
    pub fn register(
        &mut self,
        aor: &str,
        req: RegisterRequest,
        now: Instant,
    ) -> Result<Vec<Binding>, RegisterError> {
        let mut current: Vec<Binding> = self
            .bindings
            .get(aor)
            .map(|b| b.iter().filter(|b| b.is_live(now)).cloned().collect())
            .unwrap_or_default();
        if req.star {
            if !req.contacts.is_empty() || req.expires_header != Some(0) {
                return Err(RegisterError::InvalidWildcard);
            }
            if let Some(b) = current
                .iter()
                .find(|b| b.call_id == req.call_id && req.cseq <= b.cseq)
            {
                return Err(RegisterError::OutOfOrder {
                    cseq: req.cseq,
                    stored: b.cseq,
                });
            }
            self.bindings.remove(aor);
            return Ok(Vec::new());
        }
        if req.contacts.len() > self.policy.max_contacts {
            return Err(RegisterError::TooManyContacts {
                max: self.policy.max_contacts,
            });
        }
        let expiries = req
            .contacts
            .iter()
            .map(|c| self.granted_expiry(c, req.expires_header))
            .collect::<Result<Vec<u32>, _>>()?;

        // Bindings created or refreshed by this very request are exempt from the CSeq
        // check, so a contact listed twice does not trip it.
        let mut touched = vec![false; current.len()];
        for (c, &secs) in req.contacts.iter().zip(&expiries) {
            let Some(i) = current.iter().position(|b| b.matches(c)) else {
                if secs > 0 {
                    current.push(new_binding(c, &req, expires_at(now, secs)));
                    touched.push(true);
                }
                continue;
            };
            let b = &current[i];
            if !touched[i] && b.call_id == req.call_id && req.cseq <= b.cseq {
                return Err(RegisterError::OutOfOrder {
                    cseq: req.cseq,
                    stored: b.cseq,
                });
            }
            if secs == 0 {
                current.remove(i);
                touched.remove(i);
            } else {
                current[i] = new_binding(c, &req, expires_at(now, secs));
                touched[i] = true;
            }
        }
        if current.len() > self.policy.max_contacts {
            return Err(RegisterError::TooManyContacts {
                max: self.policy.max_contacts,
            });
        }
        if current.is_empty() {
            self.bindings.remove(aor);
        } else {
            self.bindings.insert(aor.to_owned(), current.clone());
        }
        Ok(current)
    }

    fn granted_expiry(&self, c: &ContactParam, header: Option<u32>) -> Result<u32, RegisterError> {
        if let Some(q) = c.q
            && !(0.0..=1.0).contains(&q)
        {
            return Err(RegisterError::InvalidQ(q));
        }
        let asked = c.expires.or(header).unwrap_or(self.policy.default_expires);
        if asked == 0 {
            return Ok(0);
        }
        if asked < self.policy.min_expires {
            return Err(RegisterError::IntervalTooBrief {
                min: self.policy.min_expires,
            });
        }
        Ok(asked.min(self.policy.max_expires))
    }

    /// Live bindings of `aor`, highest q first (no q counts as 1.0); ties keep
    /// registration order.
    pub fn lookup(&self, aor: &str, now: Instant) -> Vec<&Binding> {
        let mut live: Vec<&Binding> = self
            .bindings
            .get(aor)
            .map(|b| b.iter().filter(|b| b.is_live(now)).collect())
            .unwrap_or_default();
        live.sort_by(|a, b| b.q.unwrap_or(1.0).total_cmp(&a.q.unwrap_or(1.0)));
        live
    }

    /// Drops expired bindings (and AORs left empty); returns how many were dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        self.bindings.retain(|_, list| {
            let before = list.len();
            list.retain(|b| b.is_live(now));
            dropped += before - list.len();
            !list.is_empty()
        });
        dropped
    }

    /// Bindings held, including any expired since the last [`expire`](Self::expire).
    pub fn len(&self) -> usize {
        self.bindings.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }

    /// AORs with at least one binding held.
    pub fn aors(&self) -> impl Iterator<Item = &str> {
        self.bindings.keys().map(String::as_str)
    }
}

fn expires_at(now: Instant, secs: u32) -> Instant {
    let d = Duration::from_secs(u64::from(secs));
    // Overflow would need an Instant near the end of time; fall back to "now" (expired).
    now.checked_add(d).unwrap_or(now)
}

fn new_binding(c: &ContactParam, req: &RegisterRequest, expires_at: Instant) -> Binding {
    Binding {
        contact: c.uri.clone(),
        received: req.received,
        transport: req.transport,
        expires_at,
        call_id: req.call_id.clone(),
        cseq: req.cseq,
        q: c.q,
        instance: c.instance.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([203, 0, 113, 7], port))
    }

    fn contact(uri: &str) -> ContactParam {
        ContactParam {
            uri: uri.into(),
            expires: None,
            q: None,
            instance: None,
        }
    }

    fn req(contacts: Vec<ContactParam>, expires: Option<u32>, cseq: u32) -> RegisterRequest {
        RegisterRequest {
            contacts,
            star: false,
            expires_header: expires,
            call_id: "call-a".into(),
            cseq,
            received: addr(5060),
            transport: Transport::Udp,
        }
    }

    fn table() -> LocationTable {
        LocationTable::with_policy(RegistrarPolicy::default())
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn register_defaults_to_3600_and_lookup_finds_it() {
        let (mut t, now) = (table(), Instant::now());
        let got = t.register(
            "1001",
            req(vec![contact("sip:1001@10.0.0.5")], None, 1),
            now,
        );
        let got = got.expect("accepted");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].expires_in(now), 3600);
        assert_eq!(got[0].received, addr(5060));
        assert_eq!(t.lookup("1001", now)[0].contact, "sip:1001@10.0.0.5");
        assert!(t.lookup("1002", now).is_empty());
        assert_eq!(t.aors().collect::<Vec<_>>(), vec!["1001"]);
    }

    #[test]
    fn contact_expires_overrides_header_and_max_caps() {
        let (mut t, now) = (table(), Instant::now());
        let mut a = contact("sip:a@h");
        a.expires = Some(120);
        let b = contact("sip:b@h");
        let got = t
            .register("1001", req(vec![a, b], Some(7200), 1), now)
            .expect("ok");
        assert_eq!(got[0].expires_in(now), 120);
        assert_eq!(got[1].expires_in(now), 3600, "7200 capped to max");
    }

    #[test]
    fn too_brief_interval_is_423_and_changes_nothing() {
        let (mut t, now) = (table(), Instant::now());
        let err = t.register("1001", req(vec![contact("sip:a@h")], Some(30), 1), now);
        assert_eq!(err, Err(RegisterError::IntervalTooBrief { min: 60 }));
        assert!(t.is_empty());
    }

    #[test]
    fn expires_zero_removes_only_that_contact() {
        let (mut t, now) = (table(), Instant::now());
        let two = vec![contact("sip:a@h"), contact("sip:b@h")];
        t.register("1001", req(two, None, 1), now).expect("ok");
        let mut gone = contact("sip:a@h");
        gone.expires = Some(0);
        let left = t
            .register("1001", req(vec![gone], None, 2), now)
            .expect("ok");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].contact, "sip:b@h");
        let gone = t.register("1001", req(vec![contact("sip:b@h")], Some(0), 3), now);
        assert_eq!(gone, Ok(vec![]));
        assert!(t.is_empty(), "empty AOR dropped");
    }

    #[test]
    fn wildcard_removes_all_but_only_with_expires_zero() {
        let (mut t, now) = (table(), Instant::now());
        t.register(
            "1001",
            req(vec![contact("sip:a@h"), contact("sip:b@h")], None, 1),
            now,
        )
        .expect("ok");
        let mut star = req(vec![], Some(3600), 2);
        star.star = true;
        assert_eq!(
            t.register("1001", star.clone(), now),
            Err(RegisterError::InvalidWildcard)
        );
        star.expires_header = None;
        assert_eq!(
            t.register("1001", star.clone(), now),
            Err(RegisterError::InvalidWildcard)
        );
        star.expires_header = Some(0);
        star.contacts = vec![contact("sip:c@h")];
        assert_eq!(
            t.register("1001", star.clone(), now),
            Err(RegisterError::InvalidWildcard)
        );
        star.contacts.clear();
        star.cseq = 1;
        assert_eq!(
            t.register("1001", star.clone(), now),
            Err(RegisterError::OutOfOrder { cseq: 1, stored: 1 })
        );
        assert_eq!(t.len(), 2);
        star.cseq = 2;
        assert_eq!(t.register("1001", star, now), Ok(vec![]));
        assert!(t.lookup("1001", now).is_empty());
    }

    #[test]
    fn same_call_id_needs_higher_cseq() {
        let (mut t, now) = (table(), Instant::now());
        t.register("1001", req(vec![contact("sip:a@h")], None, 5), now)
            .expect("ok");
        for cseq in [4, 5] {
            assert_eq!(
                t.register("1001", req(vec![contact("sip:a@h")], Some(0), cseq), now),
                Err(RegisterError::OutOfOrder { cseq, stored: 5 })
            );
        }
        let mut other_call = req(vec![contact("sip:a@h")], None, 1);
        other_call.call_id = "call-b".into();
        assert!(
            t.register("1001", other_call, now).is_ok(),
            "new Call-ID resets CSeq"
        );
    }

    #[test]
    fn duplicate_contact_in_one_request_is_not_out_of_order() {
        let (mut t, now) = (table(), Instant::now());
        let dup = vec![contact("sip:a@h"), contact("sip:a@h")];
        let got = t.register("1001", req(dup, None, 1), now).expect("ok");
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn max_contacts_enforced_atomically() {
        let (mut t, now) = (LocationTable::new(60, 3600, 2), Instant::now());
        t.register(
            "1001",
            req(vec![contact("sip:a@h"), contact("sip:b@h")], None, 1),
            now,
        )
        .expect("ok");
        let third = req(vec![contact("sip:c@h")], None, 2);
        assert_eq!(
            t.register("1001", third, now),
            Err(RegisterError::TooManyContacts { max: 2 })
        );
        let many = (0..3).map(|i| contact(&format!("sip:{i}@h"))).collect();
        assert_eq!(
            t.register("1002", req(many, None, 1), now),
            Err(RegisterError::TooManyContacts { max: 2 })
        );
        assert_eq!(t.len(), 2);
        // An expired binding does not count against the limit.
        let later = now + secs(3601);
        assert!(
            t.register("1001", req(vec![contact("sip:c@h")], None, 3), later)
                .is_ok()
        );
    }

    #[test]
    fn refresh_updates_expiry_and_nat_address() {
        let (mut t, now) = (table(), Instant::now());
        t.register("1001", req(vec![contact("sip:a@h")], Some(600), 1), now)
            .expect("ok");
        let mut refresh = req(vec![contact("sip:a@h")], Some(600), 2);
        refresh.received = addr(40000);
        refresh.transport = Transport::Tcp;
        let later = now + secs(500);
        let got = t.register("1001", refresh, later).expect("ok");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].received, addr(40000));
        assert_eq!(got[0].transport, Transport::Tcp);
        assert_eq!(got[0].expires_in(later), 600);
        assert_eq!(
            t.lookup("1001", now + secs(700)).len(),
            1,
            "still live after old expiry"
        );
    }

    #[test]
    fn instance_id_replaces_binding_whose_uri_changed() {
        let (mut t, now) = (table(), Instant::now());
        let mut c = contact("sip:1001@10.0.0.5");
        c.instance = Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into());
        t.register("1001", req(vec![c.clone()], None, 1), now)
            .expect("ok");
        c.uri = "sip:1001@10.0.0.9".into();
        let got = t.register("1001", req(vec![c], None, 2), now).expect("ok");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].contact, "sip:1001@10.0.0.9");
    }

    #[test]
    fn empty_contact_list_is_a_query() {
        let (mut t, now) = (table(), Instant::now());
        t.register("1001", req(vec![contact("sip:a@h")], None, 1), now)
            .expect("ok");
        let got = t.register("1001", req(vec![], None, 2), now).expect("ok");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].cseq, 1, "query changes nothing");
    }

    #[test]
    fn lookup_orders_by_q_and_hides_expired() {
        let (mut t, now) = (table(), Instant::now());
        let mut low = contact("sip:low@h");
        low.q = Some(0.1);
        let plain = contact("sip:plain@h");
        let mut mid = contact("sip:mid@h");
        mid.q = Some(0.5);
        mid.expires = Some(60);
        t.register("1001", req(vec![low, mid, plain], None, 1), now)
            .expect("ok");
        let order: Vec<&str> = t
            .lookup("1001", now)
            .iter()
            .map(|b| b.contact.as_str())
            .collect();
        assert_eq!(order, vec!["sip:plain@h", "sip:mid@h", "sip:low@h"]);
        let later: Vec<&str> = t
            .lookup("1001", now + secs(61))
            .iter()
            .map(|b| b.contact.as_str())
            .collect();
        assert_eq!(later, vec!["sip:plain@h", "sip:low@h"]);
        let mut bad = contact("sip:x@h");
        bad.q = Some(1.5);
        assert_eq!(
            t.register("1001", req(vec![bad], None, 2), now),
            Err(RegisterError::InvalidQ(1.5))
        );
    }

    #[test]
    fn expire_removes_dead_and_counts_them() {
        let (mut t, now) = (table(), Instant::now());
        let mut short = contact("sip:a@h");
        short.expires = Some(60);
        t.register("1001", req(vec![short, contact("sip:b@h")], None, 1), now)
            .expect("ok");
        t.register("1002", req(vec![contact("sip:c@h")], Some(60), 1), now)
            .expect("ok");
        assert_eq!(t.len(), 3);
        assert_eq!(t.expire(now + secs(59)), 0);
        assert_eq!(t.expire(now + secs(60)), 2);
        assert_eq!(t.len(), 1);
        assert_eq!(t.aors().collect::<Vec<_>>(), vec!["1001"]);
    }
}
