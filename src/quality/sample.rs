//! The month's random sample: reproducible from the stored seed and the ordered list of
//! candidates, so anyone can check that the calls were not picked by hand.
//!
//! The draw: every candidate gets the key SHA-256(seed ‖ ":" ‖ protocol) (hex seed, the
//! protocol as text); within each agent the candidates are ordered by that key (then by
//! protocol) and the first `per_agent` are picked. The seed is 32 random bytes the API draws at
//! the moment of the draw, so nobody knows the keys in advance; SHA-256 makes the order
//! independent of the call data. The list's digest (`candidates_digest`) is stored beside
//! the seed, so a later recount of the candidates can be compared with the one drawn from.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// An answered call that may be drawn: it passed the filters (a finalized recording, talk
/// longer than the minimum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub protocol: String,
    /// The agent who talked to the caller last (the one the call is evaluated for).
    pub agent: String,
    /// The first ACD queue the call went through, for supervisors' scope.
    pub queue: Option<String>,
    pub talk_ms: i64,
}

/// A drawn call and its place (1-based) in its agent's draw order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Picked {
    pub candidate: Candidate,
    pub rank: u32,
}

/// The draw key of one call.
pub fn key(seed: &str, protocol: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(b":");
    h.update(protocol.as_bytes());
    h.finalize().into()
}

/// SHA-256 over the candidates as drawn from, one "protocol<TAB>agent<TAB>talk_ms" line
/// each, in the given order (the store gives them by protocol).
pub fn candidates_digest(candidates: &[Candidate]) -> String {
    let mut h = Sha256::new();
    for c in candidates {
        h.update(format!("{}\t{}\t{}\n", c.protocol, c.agent, c.talk_ms).as_bytes());
    }
    hex::encode(h.finalize())
}

/// Up to `per_agent` calls per agent, ordered by agent then rank.
pub fn draw(seed: &str, candidates: &[Candidate], per_agent: usize) -> Vec<Picked> {
    let mut by_agent: BTreeMap<&str, Vec<([u8; 32], &Candidate)>> = BTreeMap::new();
    for c in candidates {
        by_agent
            .entry(c.agent.as_str())
            .or_default()
            .push((key(seed, &c.protocol), c));
    }
    let mut out = Vec::new();
    for (_, mut calls) in by_agent {
        calls.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.protocol.cmp(&b.1.protocol)));
        for (i, (_, c)) in calls.into_iter().take(per_agent).enumerate() {
            out.push(Picked {
                candidate: c.clone(),
                rank: u32::try_from(i + 1).unwrap_or(u32::MAX),
            });
        }
    }
    out
}
