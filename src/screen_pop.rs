//! The screen-pop: what the agent's desktop shows when a call is offered (the CTI's
//! `call_offered`). `assemble` is pure: the caller's number, masked "restrito" when the
//! caller asked for privacy; the DID, queue and wait; what the IVR collected, kept only
//! for the names in the queue's `screen_pop_fields` (LGPD: nothing by default); the
//! caller's previous calls with what they were registered as (never for a restricted or
//! anonymous caller); and the queue's `screen_pop_url` with every field URL-encoded.
//! `ScreenPop::build` adds the history query; a database error leaves the history empty
//! rather than hold the offer back.

use std::collections::BTreeMap;

use serde::Serialize;
use tracing::warn;

use crate::acd::QueueConfig;
use crate::config::Disposition;
use crate::ivr::template::{expand_escaped, url_escape};
use crate::store::Store;
use crate::store::protocol::Protocol;
use crate::store::registration::PastCall;

/// What a restricted caller's number shows as (the same word as the call records).
pub const RESTRICTED: &str = "restrito";

/// What the call itself knows at offer time (the call actor holds all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopSource {
    pub protocol: Protocol,
    pub a_number: String,
    /// The caller sent `Privacy: id` (the `offered` event's `restricted`).
    pub restricted: bool,
    /// The number the citizen dialled.
    pub did: String,
    /// The IVR's variables when the call was queued (`NewCall::variables`).
    pub variables: BTreeMap<String, String>,
}

impl PopSource {
    /// From the call's `offered` event (number, DID, privacy) and the IVR's variables;
    /// `None` for another kind of event.
    pub fn from_offered(
        protocol: Protocol,
        offered: &crate::events::EventKind,
        variables: BTreeMap<String, String>,
    ) -> Option<PopSource> {
        match offered {
            crate::events::EventKind::Offered {
                a_number,
                b_number,
                restricted,
                ..
            } => Some(PopSource {
                protocol,
                a_number: a_number.clone(),
                restricted: *restricted,
                did: b_number.clone(),
                variables,
            }),
            _ => None,
        }
    }
}

/// One previous call as the pop lists it: its latest registration on top, all of them
/// in `registrations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub protocol: String,
    pub at_ms: i64,
    /// The latest registration's code, and its label when still configured.
    pub disposition: Option<String>,
    pub label: Option<String>,
    pub note: Option<String>,
    pub registrations: Vec<crate::store::registration::StoredRegistration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScreenPop {
    pub protocol: String,
    pub caller: String,
    pub did: String,
    pub queue: String,
    pub waited_ms: u64,
    pub ivr: BTreeMap<String, String>,
    pub history: Vec<HistoryEntry>,
    pub url: Option<String>,
}

/// The pop for `source` offered from `queue` after `waited_ms`, with `history` (ignored
/// for a restricted caller) and the labels of `dispositions`.
pub fn assemble(
    source: &PopSource,
    queue: &QueueConfig,
    waited_ms: u64,
    history: Vec<PastCall>,
    dispositions: &[Disposition],
) -> ScreenPop {
    let caller = if source.restricted {
        RESTRICTED.to_owned()
    } else {
        source.a_number.clone()
    };
    let ivr: BTreeMap<String, String> = source
        .variables
        .iter()
        .filter(|(k, _)| queue.screen_pop_fields.iter().any(|f| f == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let url = queue.screen_pop_url.as_ref().map(|template| {
        // The built-in names win over an IVR variable of the same name.
        let mut fields = ivr.clone();
        fields.insert("protocol".into(), source.protocol.to_string());
        fields.insert("caller".into(), caller.clone());
        fields.insert("did".into(), source.did.clone());
        fields.insert("queue".into(), queue.id.to_string());
        fields.insert("waited_ms".into(), waited_ms.to_string());
        expand_escaped(template, &fields, url_escape)
    });
    let history = if source.restricted {
        Vec::new()
    } else {
        history
            .into_iter()
            .map(|c| {
                let last = c.registrations.last();
                HistoryEntry {
                    disposition: last.map(|r| r.code.clone()),
                    label: last.and_then(|r| {
                        dispositions
                            .iter()
                            .find(|d| d.code == r.code)
                            .map(|d| d.label.clone())
                    }),
                    note: last.map(|r| r.note.clone()),
                    protocol: c.protocol,
                    at_ms: c.at_ms,
                    registrations: c.registrations,
                }
            })
            .collect()
    };
    ScreenPop {
        protocol: source.protocol.to_string(),
        caller,
        did: source.did.clone(),
        queue: queue.id.to_string(),
        waited_ms,
        ivr,
        history,
        url,
    }
}

impl ScreenPop {
    /// `assemble` with the caller's last `history` calls read from `store` (none for a
    /// restricted caller: their number is not even looked up).
    pub async fn build(
        store: &Store,
        source: &PopSource,
        queue: &QueueConfig,
        waited_ms: u64,
        history: usize,
        dispositions: &[Disposition],
    ) -> ScreenPop {
        let past = if source.restricted {
            Vec::new()
        } else {
            match store
                .caller_history(&source.a_number, &source.protocol, history)
                .await
            {
                Ok(past) => past,
                Err(e) => {
                    warn!(protocol = %source.protocol, error = %e, "screen-pop without history: the call log is unreadable");
                    Vec::new()
                }
            }
        };
        assemble(source, queue, waited_ms, past, dispositions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::registration::StoredRegistration;

    fn source(restricted: bool) -> PopSource {
        PopSource {
            protocol: "20261207-000042".parse().expect("protocol"),
            a_number: "27999990000".into(),
            restricted,
            did: "08000000000".into(),
            variables: BTreeMap::from([
                ("cpf".into(), "52998224725".into()),
                ("nome".into(), "Zé da Silva & Cia".into()),
                ("opcao".into(), "2".into()),
            ]),
        }
    }

    fn queue(fields: &[&str], url: Option<&str>) -> QueueConfig {
        let mut q = QueueConfig::new("geral");
        q.screen_pop_fields = fields.iter().map(|f| f.to_string()).collect();
        q.screen_pop_url = url.map(str::to_owned);
        q
    }

    fn past() -> Vec<PastCall> {
        vec![PastCall {
            protocol: "20261206-000007".into(),
            at_ms: 1_000,
            registrations: vec![
                StoredRegistration {
                    seq: 1 << 30,
                    at_ms: 2_000,
                    agent: "1001".into(),
                    code: "informacao".into(),
                    note: "primeira".into(),
                },
                StoredRegistration {
                    seq: (1 << 30) + 1,
                    at_ms: 3_000,
                    agent: "1001".into(),
                    code: "reclamacao".into(),
                    note: "segunda".into(),
                },
            ],
        }]
    }

    fn dispositions() -> Vec<Disposition> {
        vec![Disposition {
            code: "reclamacao".into(),
            label: "Reclamação registrada".into(),
            queues: vec![],
        }]
    }

    #[test]
    fn a_restricted_caller_shows_as_restrito_without_history() {
        let q = queue(&[], Some("https://x.example/?n=${caller}"));
        let pop = assemble(&source(true), &q, 12_000, past(), &dispositions());
        assert_eq!(pop.caller, "restrito");
        assert!(pop.history.is_empty());
        assert_eq!(pop.url.as_deref(), Some("https://x.example/?n=restrito"));
        let serialized = serde_json::to_string(&pop).expect("json");
        assert!(!serialized.contains("27999990000"), "{serialized}");
    }

    #[test]
    fn only_whitelisted_ivr_fields_are_shown() {
        let pop = assemble(&source(false), &queue(&[], None), 0, vec![], &[]);
        assert!(pop.ivr.is_empty(), "nothing by default");
        let pop = assemble(
            &source(false),
            &queue(&["cpf", "opcao", "absent"], None),
            0,
            vec![],
            &[],
        );
        assert_eq!(
            pop.ivr,
            BTreeMap::from([
                ("cpf".into(), "52998224725".into()),
                ("opcao".into(), "2".into())
            ])
        );
        assert_eq!(pop.caller, "27999990000");
        assert_eq!(pop.did, "08000000000");
        assert_eq!(pop.queue, "geral");
    }

    #[test]
    fn the_url_template_is_filled_url_encoded() {
        let q = queue(
            &["cpf", "nome"],
            Some(
                "https://x.example/a?p=${protocol}&c=${cpf}&n=${nome}&q=${queue}&w=${waited_ms}&d=${did}",
            ),
        );
        let pop = assemble(&source(false), &q, 42_500, vec![], &[]);
        assert_eq!(
            pop.url.as_deref(),
            Some(
                "https://x.example/a?p=20261207-000042&c=52998224725&n=Z%C3%A9%20da%20Silva%20%26%20Cia&q=geral&w=42500&d=08000000000"
            )
        );
        // A variable outside the whitelist never reaches the URL, even if named.
        let q = queue(&[], Some("https://x.example/a?n=${nome}"));
        let pop = assemble(&source(false), &q, 0, vec![], &[]);
        assert_eq!(pop.url.as_deref(), Some("https://x.example/a?n="));
    }

    #[test]
    fn the_source_comes_from_the_offered_event() {
        let offered = crate::events::EventKind::Offered {
            call_id: "x@gw".into(),
            a_number: "27999990000".into(),
            b_number: "08000000000".into(),
            service: "ura".into(),
            source: "trunk:gw".into(),
            restricted: true,
        };
        let s = source(true);
        assert_eq!(
            PopSource::from_offered(s.protocol.clone(), &offered, s.variables.clone()),
            Some(s.clone())
        );
        assert_eq!(
            PopSource::from_offered(
                s.protocol.clone(),
                &crate::events::EventKind::Answered,
                BTreeMap::new()
            ),
            None
        );
    }

    #[test]
    fn history_shows_the_latest_registration_with_its_label() {
        let pop = assemble(
            &source(false),
            &queue(&[], None),
            0,
            past(),
            &dispositions(),
        );
        let h = &pop.history[0];
        assert_eq!(h.protocol, "20261206-000007");
        assert_eq!(h.disposition.as_deref(), Some("reclamacao"));
        assert_eq!(h.label.as_deref(), Some("Reclamação registrada"));
        assert_eq!(h.note.as_deref(), Some("segunda"));
        assert_eq!(h.registrations.len(), 2);
    }
}
