//! Quality monitoring's tables (migration 0011): forms, the month's sample, evaluations.
//! Rows are only ever inserted: the database's triggers refuse an update or delete, so a
//! drawn sample or a submitted evaluation cannot be changed behind the API's back.
//! The draw and the scoring are `crate::quality`'s; this module reads candidates from the
//! call log and keeps what was decided.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Store, StoreError};
use crate::quality::{Candidate, Evaluation, Form, Picked};

/// A month's draw as stored: enough to recompute it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleRun {
    pub month: String,
    pub seed: String,
    pub per_agent: i64,
    pub min_talk_ms: i64,
    /// How many calls passed the filters, and the SHA-256 of their list.
    pub candidates: i64,
    pub candidates_sha256: String,
    pub drawn_at_ms: i64,
    pub drawn_by: String,
}

/// One drawn call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleCall {
    pub protocol: String,
    pub agent: String,
    pub queue: Option<String>,
    pub talk_ms: i64,
    pub rank: i64,
}

/// An evaluation about to be stored (its score already computed from the form).
pub struct NewEvaluation<'a> {
    pub month: &'a str,
    pub protocol: &'a str,
    pub agent: &'a str,
    pub form: &'a Form,
    pub evaluator: &'a str,
    pub grades: &'a BTreeMap<String, u32>,
    pub score: u32,
    pub note: &'a str,
    pub revises: Option<i64>,
    pub at_ms: i64,
}

/// Why an evaluation was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum EvaluationRefused {
    /// The evaluator already evaluated this call with this form (revise it instead), or
    /// the evaluation named in `revises` was already revised.
    Duplicate,
}

type CandidateRow = (String, String, Option<i64>, Option<i64>, i64);
type EvaluationRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
    String,
    Option<i64>,
    i64,
);

const EVALUATION_COLUMNS: &str = "SELECT id, month, protocol, agent, form_id, form_version, \
     evaluator, grades, score, note, revises, submitted_at_ms FROM quality_evaluations";

fn decode_evaluation(r: EvaluationRow) -> Evaluation {
    Evaluation {
        id: r.0,
        month: r.1,
        protocol: r.2,
        agent: r.3,
        form_id: r.4,
        form_version: u32::try_from(r.5).unwrap_or(0),
        evaluator: r.6,
        // Written by `insert_evaluation` from the same map type; an unreadable value
        // would be a hand-edited row: shown without grades rather than failing the list.
        grades: serde_json::from_str(&r.7).unwrap_or_default(),
        score: u32::try_from(r.8).unwrap_or(0),
        note: r.9,
        revises: r.10,
        submitted_at_ms: r.11,
    }
}

/// The first `queue` named anywhere in an ACD event's detail.
fn queue_in(detail: &str) -> Option<String> {
    fn walk(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(serde_json::Value::String(q)) = o.get("queue") {
                    return Some(q.clone());
                }
                o.values().find_map(walk)
            }
            serde_json::Value::Array(a) => a.iter().find_map(walk),
            _ => None,
        }
    }
    walk(&serde_json::from_str(detail).ok()?)
}

impl Store {
    /// Calls that arrived in [from_ms, to_ms), were answered by an agent, ended, have a
    /// sealed recording (its SHA-256 stored) and talked longer than `min_talk_ms`, ordered
    /// by protocol. Talk runs from the first agent answer to the end of the call or the
    /// start of the survey, whichever is first.
    pub async fn quality_candidates(
        &self,
        from_ms: i64,
        to_ms: i64,
        min_talk_ms: i64,
    ) -> Result<Vec<Candidate>, StoreError> {
        let rows: Vec<CandidateRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT c.protocol, c.agent, \
                 (SELECT MIN(e.at_ms) FROM call_events e \
                  WHERE e.protocol = c.protocol AND e.kind = 'agent_answered'), \
                 (SELECT MIN(e.at_ms) FROM call_events e \
                  WHERE e.protocol = c.protocol AND e.kind = 'survey_started'), \
                 c.ended_at_ms \
                 FROM calls c \
                 WHERE c.started_at_ms >= $1 AND c.started_at_ms < $2 \
                 AND c.agent IS NOT NULL AND c.recording_sha256 IS NOT NULL \
                 AND c.ended_at_ms IS NOT NULL \
                 ORDER BY c.protocol",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
        });
        let acd: Vec<(String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT e.protocol, e.detail FROM call_events e \
                 JOIN calls c ON c.protocol = e.protocol \
                 WHERE c.started_at_ms >= $1 AND c.started_at_ms < $2 AND e.kind = 'acd' \
                 AND c.agent IS NOT NULL ORDER BY e.protocol, e.seq",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?
        });
        let mut queues: BTreeMap<String, String> = BTreeMap::new();
        for (protocol, detail) in acd {
            if queues.contains_key(&protocol) {
                continue;
            }
            if let Some(q) = queue_in(&detail) {
                queues.insert(protocol, q);
            }
        }
        Ok(rows
            .into_iter()
            .filter_map(|(protocol, agent, answered, survey, ended)| {
                let end = survey.map_or(ended, |s| s.min(ended));
                let talk_ms = end - answered?;
                (talk_ms > min_talk_ms).then(|| Candidate {
                    queue: queues.get(&protocol).cloned(),
                    protocol,
                    agent,
                    talk_ms,
                })
            })
            .collect())
    }

    /// Stores a month's draw and its calls in one transaction; `false` (nothing written)
    /// when the month was already drawn.
    pub async fn quality_insert_sample(
        &self,
        run: &SampleRun,
        picks: &[Picked],
    ) -> Result<bool, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "INSERT INTO quality_samples (month, seed, per_agent, min_talk_ms, candidates, \
                 candidates_sha256, drawn_at_ms, drawn_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (month) DO NOTHING",
            )
            .bind(&run.month)
            .bind(&run.seed)
            .bind(run.per_agent)
            .bind(run.min_talk_ms)
            .bind(run.candidates)
            .bind(&run.candidates_sha256)
            .bind(run.drawn_at_ms)
            .bind(&run.drawn_by)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            for p in picks {
                sqlx::query(
                    "INSERT INTO quality_sample_calls (month, protocol, agent, queue, talk_ms, \
                     draw_rank) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&run.month)
                .bind(&p.candidate.protocol)
                .bind(&p.candidate.agent)
                .bind(&p.candidate.queue)
                .bind(p.candidate.talk_ms)
                .bind(i64::from(p.rank))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// The month's draw and its calls (by agent, then rank), if it was drawn.
    pub async fn quality_sample(
        &self,
        month: &str,
    ) -> Result<Option<(SampleRun, Vec<SampleCall>)>, StoreError> {
        type RunRow = (String, String, i64, i64, i64, String, i64, String);
        let run: Option<RunRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT month, seed, per_agent, min_talk_ms, candidates, candidates_sha256, \
                 drawn_at_ms, drawn_by FROM quality_samples WHERE month = $1",
            )
            .bind(month)
            .fetch_optional(pool)
            .await?
        });
        let Some(r) = run else { return Ok(None) };
        let calls: Vec<(String, String, Option<String>, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT protocol, agent, queue, talk_ms, draw_rank FROM quality_sample_calls \
                 WHERE month = $1 ORDER BY agent, draw_rank",
            )
            .bind(month)
            .fetch_all(pool)
            .await?
        });
        let run = SampleRun {
            month: r.0,
            seed: r.1,
            per_agent: r.2,
            min_talk_ms: r.3,
            candidates: r.4,
            candidates_sha256: r.5,
            drawn_at_ms: r.6,
            drawn_by: r.7,
        };
        let calls = calls
            .into_iter()
            .map(|c| SampleCall {
                protocol: c.0,
                agent: c.1,
                queue: c.2,
                talk_ms: c.3,
                rank: c.4,
            })
            .collect();
        Ok(Some((run, calls)))
    }

    /// Every version of every form, by id then version.
    pub async fn quality_forms(&self) -> Result<Vec<Form>, StoreError> {
        let rows: Vec<(String, i64, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT form_id, version, title, criteria FROM quality_forms \
                 ORDER BY form_id, version",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, version, title, criteria)| Form {
                id,
                version: u32::try_from(version).unwrap_or(0),
                title,
                criteria: serde_json::from_str(&criteria).unwrap_or_default(),
            })
            .collect())
    }

    /// Stores `form` as the next version of its id (the tender's form as version 1 when
    /// the id is new and `form` is it); returns the version given.
    pub async fn quality_insert_form(
        &self,
        form: &Form,
        by: &str,
        at_ms: i64,
    ) -> Result<u32, StoreError> {
        let criteria = serde_json::to_string(&form.criteria)
            .expect("criteria are plain data: serializing cannot fail");
        let version: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO quality_forms (form_id, version, title, criteria, created_at_ms, \
                 created_by) SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 \
                 FROM quality_forms WHERE form_id = $1 RETURNING version",
            )
            .bind(&form.id)
            .bind(&form.title)
            .bind(&criteria)
            .bind(at_ms)
            .bind(by)
            .fetch_one(pool)
            .await?
        });
        Ok(u32::try_from(version).unwrap_or(0))
    }

    /// Makes sure the tender's default form exists (version 1 of `imq`).
    pub async fn quality_seed_default_form(&self, at_ms: i64) -> Result<(), StoreError> {
        let form = Form::tender_default();
        let criteria = serde_json::to_string(&form.criteria)
            .expect("criteria are plain data: serializing cannot fail");
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO quality_forms (form_id, version, title, criteria, created_at_ms, \
                 created_by) VALUES ($1, 1, $2, $3, $4, 'atende') \
                 ON CONFLICT (form_id, version) DO NOTHING",
            )
            .bind(&form.id)
            .bind(&form.title)
            .bind(&criteria)
            .bind(at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Stores an evaluation; returns its id, or why it was refused.
    pub async fn quality_insert_evaluation(
        &self,
        e: &NewEvaluation<'_>,
    ) -> Result<Result<i64, EvaluationRefused>, StoreError> {
        let grades = serde_json::to_string(e.grades)
            .expect("grades are plain data: serializing cannot fail");
        let r: Result<i64, sqlx::Error> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO quality_evaluations (month, protocol, agent, form_id, form_version, \
                 evaluator, grades, score, note, revises, submitted_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(e.month)
            .bind(e.protocol)
            .bind(e.agent)
            .bind(&e.form.id)
            .bind(i64::from(e.form.version))
            .bind(e.evaluator)
            .bind(&grades)
            .bind(i64::from(e.score))
            .bind(e.note)
            .bind(e.revises)
            .bind(e.at_ms)
            .fetch_one(pool)
            .await
        });
        match r {
            Ok(id) => Ok(Ok(id)),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                Ok(Err(EvaluationRefused::Duplicate))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The month's evaluations, oldest first (revisions included).
    pub async fn quality_evaluations(&self, month: &str) -> Result<Vec<Evaluation>, StoreError> {
        let sql = format!("{EVALUATION_COLUMNS} WHERE month = $1 ORDER BY id");
        let rows: Vec<EvaluationRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(month)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(decode_evaluation).collect())
    }

    /// One evaluation by id.
    pub async fn quality_evaluation(&self, id: i64) -> Result<Option<Evaluation>, StoreError> {
        let sql = format!("{EVALUATION_COLUMNS} WHERE id = $1");
        let row: Option<EvaluationRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(decode_evaluation))
    }
}

#[cfg(test)]
#[path = "quality_tests.rs"]
mod tests;
