//! From evaluations to the call's score, the agent's month and the month's IMQ.
//!
//! An evaluation is immutable; a correction is a new evaluation that `revises` the old
//! one, and only evaluations nobody revised count ("current"). A call's score is the mean
//! of its current evaluations (one per evaluator and form; several when monitors are
//! calibrated against each other), rounded half up to the hundredth of a point; the IMQ is
//! the mean of the evaluated calls' scores (tender 4.1.8 q: "a soma dos percentuais de
//! cada ligação, dividido pelo número de atendimentos avaliados").

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::contract::Measured;

/// One submitted evaluation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub id: i64,
    pub protocol: String,
    /// The sample's month ("YYYY-MM").
    pub month: String,
    pub agent: String,
    pub form_id: String,
    pub form_version: u32,
    pub evaluator: String,
    /// Grade 0–100 per criterion key.
    pub grades: BTreeMap<String, u32>,
    /// Σ weight × grade: the call's score in hundredths of a point (0–10 000).
    pub score: u32,
    pub note: String,
    /// The evaluation this one corrects.
    pub revises: Option<i64>,
    pub submitted_at_ms: i64,
}

/// An agent's month: evaluated calls and the mean of their scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentScore {
    pub agent: String,
    pub measured: Measured,
}

/// The month's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Σ call scores (hundredths of a point) over evaluated calls: the contract's IMQ.
    pub imq: Measured,
    pub agents: Vec<AgentScore>,
    /// Each evaluated call's score in hundredths of a point.
    pub calls: BTreeMap<String, u32>,
}

/// The evaluations no other evaluation revises.
pub fn current(evals: &[Evaluation]) -> Vec<&Evaluation> {
    let revised: BTreeSet<i64> = evals.iter().filter_map(|e| e.revises).collect();
    evals.iter().filter(|e| !revised.contains(&e.id)).collect()
}

pub fn summary(evals: &[Evaluation]) -> Summary {
    let mut per_call: BTreeMap<&str, (&str, u64, u64)> = BTreeMap::new();
    for e in current(evals) {
        let entry = per_call
            .entry(e.protocol.as_str())
            .or_insert((e.agent.as_str(), 0, 0));
        entry.1 += u64::from(e.score);
        entry.2 += 1;
    }
    let mut calls = BTreeMap::new();
    let mut agents: BTreeMap<&str, Measured> = BTreeMap::new();
    let mut imq = Measured::new(0, 0);
    for (protocol, (agent, sum, n)) in per_call {
        // Mean rounded half up to the hundredth of a point.
        let score = u32::try_from((2 * sum + n) / (2 * n)).unwrap_or(u32::MAX);
        calls.insert(protocol.to_owned(), score);
        imq.numerator += u64::from(score);
        imq.denominator += 1;
        let a = agents.entry(agent).or_insert(Measured::new(0, 0));
        a.numerator += u64::from(score);
        a.denominator += 1;
    }
    Summary {
        imq,
        agents: agents
            .into_iter()
            .map(|(agent, measured)| AgentScore {
                agent: agent.to_owned(),
                measured,
            })
            .collect(),
        calls,
    }
}
