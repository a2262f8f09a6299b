//! The satisfaction survey's results of a period, pure: the survey entries of the calls'
//! logs in, the distribution of answers 1–5 per question, the response rate, each agent's
//! answers and ISA, and the period's ISA out (tender: ISA = answers of 4 or 5 ÷ answers).
//!
//! The rules are the projector's (`fact`): an answer counts when its score is 1–5; ISA
//! counts only questions marked `isa`; an agent's figures come from the agent named on the
//! answer. Response rate = calls whose survey got at least one valid answer ÷ calls whose
//! survey started. Percentages come from summed counts; an empty denominator is "—".

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::kpi::Ratio;
use super::table::{Cell, Kind, Table};
use crate::events::EventKind;

/// One question's answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionResult {
    pub survey: String,
    pub question: String,
    /// Counts for the ISA KPI.
    pub isa: bool,
    /// Answers 1, 2, 3, 4, 5.
    pub counts: [u64; 5],
    /// Asked, but no valid answer (silence, invalid keys, hang-up).
    pub no_answer: u64,
    /// Answers of 4 or 5 ÷ valid answers.
    pub top2: Ratio,
    /// Mean of the valid answers; `None` without any.
    pub mean: Option<f64>,
}

/// One agent's ISA answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentResult {
    pub agent: String,
    /// Calls of this agent whose survey started.
    pub surveys: u64,
    pub isa: Ratio,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurveyResults {
    /// Calls whose survey started.
    pub started: u64,
    /// Calls with at least one valid answer.
    pub responded: u64,
    pub response_rate: Ratio,
    pub questions: Vec<QuestionResult>,
    pub agents: Vec<AgentResult>,
    pub isa: Ratio,
}

/// Folds the survey entries `(protocol, event)` of a period's calls (other kinds ignored).
pub fn fold<'a>(entries: impl IntoIterator<Item = (&'a str, &'a EventKind)>) -> SurveyResults {
    let mut started: BTreeSet<&str> = BTreeSet::new();
    let mut responded: BTreeSet<&str> = BTreeSet::new();
    let mut questions: BTreeMap<(String, String), QuestionResult> = BTreeMap::new();
    let mut agent_calls: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut agent_isa: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut isa_top2, mut isa_all) = (0u64, 0u64);
    for (protocol, kind) in entries {
        match kind {
            EventKind::SurveyStarted { agent, .. } => {
                started.insert(protocol);
                if let Some(a) = agent {
                    agent_calls.entry(a.clone()).or_default().insert(protocol);
                }
            }
            EventKind::SurveyAnswered {
                survey,
                question,
                agent,
                score,
                isa,
                ..
            } => {
                let q = questions
                    .entry((survey.clone(), question.clone()))
                    .or_insert_with(|| QuestionResult {
                        survey: survey.clone(),
                        question: question.clone(),
                        isa: false,
                        counts: [0; 5],
                        no_answer: 0,
                        top2: Ratio::of(0, 0),
                        mean: None,
                    });
                q.isa |= *isa;
                match score.filter(|s| (1..=5).contains(s)) {
                    Some(s) => {
                        q.counts[usize::from(s - 1)] += 1;
                        responded.insert(protocol);
                        if *isa {
                            isa_all += 1;
                            isa_top2 += u64::from(s >= 4);
                            if let Some(a) = agent {
                                let e = agent_isa.entry(a.clone()).or_default();
                                e.0 += u64::from(s >= 4);
                                e.1 += 1;
                            }
                        }
                    }
                    None => q.no_answer += 1,
                }
            }
            _ => {}
        }
    }
    let questions = questions
        .into_values()
        .map(|mut q| {
            let n: u64 = q.counts.iter().sum();
            let sum: u64 = q.counts.iter().zip(1..).map(|(c, v)| c * v).sum();
            q.top2 = Ratio::of(q.counts[3] + q.counts[4], n);
            q.mean = (n > 0).then(|| sum as f64 / n as f64);
            q
        })
        .collect();
    let names: BTreeSet<String> = agent_calls
        .keys()
        .chain(agent_isa.keys())
        .cloned()
        .collect();
    let agents = names
        .into_iter()
        .map(|a| {
            let (top2, all) = agent_isa.get(&a).copied().unwrap_or((0, 0));
            AgentResult {
                surveys: agent_calls.get(&a).map_or(0, |s| s.len() as u64),
                isa: Ratio::of(top2, all),
                agent: a,
            }
        })
        .collect();
    SurveyResults {
        started: started.len() as u64,
        responded: responded.len() as u64,
        response_rate: Ratio::of(responded.len() as u64, started.len() as u64),
        questions,
        agents,
        isa: Ratio::of(isa_top2, isa_all),
    }
}

fn pct(r: &Ratio) -> Cell {
    r.percent.map_or(Cell::Empty, Cell::Percent)
}

/// The results as one table: a row per question (distribution), then a row per agent
/// (ISA), then the period's totals; the layout is in the "Linha" column.
pub fn table(r: &SurveyResults) -> Table {
    use Kind::*;
    let mut t = Table::new(
        "Pesquisa de satisfação",
        &[
            ("line", "Linha", Text),
            ("name", "Pesquisa / atendente", Text),
            ("question", "Pergunta", Text),
            ("n1", "Nota 1", Count),
            ("n2", "Nota 2", Count),
            ("n3", "Nota 3", Count),
            ("n4", "Nota 4", Count),
            ("n5", "Nota 5", Count),
            ("no_answer", "Sem resposta", Count),
            ("answers", "Respostas válidas", Count),
            ("top2", "Notas 4 e 5 (%)", Percent),
        ],
    );
    for q in &r.questions {
        let n: u64 = q.counts.iter().sum();
        let mut row = vec![
            Cell::Text(if q.isa { "Pergunta (ISA)" } else { "Pergunta" }.into()),
            Cell::Text(q.survey.clone()),
            Cell::Text(q.question.clone()),
        ];
        row.extend(q.counts.iter().map(|c| Cell::Count(*c)));
        row.extend([Cell::Count(q.no_answer), Cell::Count(n), pct(&q.top2)]);
        t.rows.push(row);
    }
    for a in &r.agents {
        let mut row = vec![
            Cell::Text("Atendente".into()),
            Cell::Text(a.agent.clone()),
            Cell::Empty,
        ];
        row.extend(std::iter::repeat_n(Cell::Empty, 6));
        row.extend([Cell::Count(a.isa.denominator), pct(&a.isa)]);
        t.rows.push(row);
    }
    // The total is the ISA questions' distribution: its valid answers are ISA's denominator.
    let isa_questions = r.questions.iter().filter(|q| q.isa);
    let (mut counts, mut no_answer) = ([0u64; 5], 0u64);
    for q in isa_questions {
        for (t, c) in counts.iter_mut().zip(q.counts) {
            *t += c;
        }
        no_answer += q.no_answer;
    }
    let mut total = vec![
        Cell::Text("Total".into()),
        Cell::Text(String::new()),
        Cell::Text("ISA".into()),
    ];
    total.extend(counts.iter().map(|c| Cell::Count(*c)));
    total.extend([
        Cell::Count(no_answer),
        Cell::Count(r.isa.denominator),
        pct(&r.isa),
    ]);
    t.rows.push(total);
    let rate = r
        .response_rate
        .percent
        .map_or("—".to_owned(), |p| format!("{p:.1} %").replace('.', ","));
    t.notes.push(format!(
        "Pesquisas iniciadas: {}; respondidas: {}; taxa de resposta: {rate}",
        r.started, r.responded
    ));
    t.notes.push(
        "ISA: respostas 4 ou 5 ÷ respostas válidas (1 a 5) das perguntas marcadas ISA".into(),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(q: &str, agent: &str, score: Option<u8>, isa: bool) -> EventKind {
        EventKind::SurveyAnswered {
            survey: "isa".into(),
            question: q.into(),
            agent: Some(agent.into()),
            score,
            reason: score.is_none().then(|| "timeout".into()),
            isa,
        }
    }

    fn started(agent: &str) -> EventKind {
        EventKind::SurveyStarted {
            survey: "isa".into(),
            agent: Some(agent.into()),
        }
    }

    /// Three surveys by hand: A (agent 1001) answers 5 and 3; B (1001) answers 4 to the
    /// operator question and nothing to the second; C (1002) answers nothing. Expected:
    /// started 3, responded 2 (66.7 %); operator question 1×4, 1×5 → 100 %; service
    /// question 1×3, 1 no answer → 0 %; ISA (both questions ISA) = 2 of 3; 1001: 2 of 3,
    /// 1002: "—".
    #[test]
    fn a_hand_computed_month() {
        let log = [
            ("A", started("1001")),
            ("A", answered("atendente", "1001", Some(5), true)),
            ("A", answered("servico", "1001", Some(3), true)),
            ("B", started("1001")),
            ("B", answered("atendente", "1001", Some(4), true)),
            ("B", answered("servico", "1001", None, true)),
            ("C", started("1002")),
            ("C", answered("atendente", "1002", None, true)),
            (
                "C",
                EventKind::Registered {
                    agent: "1002".into(),
                    code: "x".into(),
                    note: String::new(),
                },
            ),
        ];
        let r = fold(log.iter().map(|(p, k)| (*p, k)));
        assert_eq!((r.started, r.responded), (3, 2));
        assert_eq!(r.response_rate, Ratio::of(2, 3));
        assert_eq!(r.isa, Ratio::of(2, 3));
        let op = &r.questions[0];
        assert_eq!(
            (op.question.as_str(), op.counts, op.no_answer),
            ("atendente", [0, 0, 0, 1, 1], 1)
        );
        assert_eq!(op.top2, Ratio::of(2, 2));
        assert_eq!(op.mean, Some(4.5));
        let svc = &r.questions[1];
        assert_eq!(
            (svc.counts, svc.no_answer, svc.top2),
            ([0, 0, 1, 0, 0], 1, Ratio::of(0, 1))
        );
        assert_eq!(r.agents[0].agent, "1001");
        assert_eq!((r.agents[0].surveys, r.agents[0].isa), (2, Ratio::of(2, 3)));
        assert_eq!((r.agents[1].surveys, r.agents[1].isa.percent), (1, None));

        let t = table(&r);
        assert_eq!(t.rows.len(), 2 + 2 + 1);
        assert_eq!(t.rows[2][1], Cell::Text("1001".into()));
        assert_eq!(t.rows[3][10], Cell::Empty, "1002 has no ISA answer: —");
        assert_eq!(t.rows[4][9], Cell::Count(3));
        let isa: Vec<&Cell> = t.rows[4][3..9].iter().collect();
        let want = [0, 0, 1, 1, 1, 2].map(Cell::Count);
        assert_eq!(
            isa,
            want.iter().collect::<Vec<_>>(),
            "the ISA questions' distribution"
        );
        assert!(
            t.notes[0].contains("taxa de resposta: 66,7 %"),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn no_survey_is_dashes_not_zero() {
        let r = fold(std::iter::empty());
        assert_eq!(r.response_rate.percent, None);
        assert_eq!(r.isa.percent, None);
        assert!(table(&r).notes[0].contains("taxa de resposta: —"));
    }
}
