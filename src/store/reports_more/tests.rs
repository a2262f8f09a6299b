//! The extra reports: survey results read back from both databases through the event
//! writer, and the IVR, quality and agents × days tables built by hand.

use std::collections::BTreeMap;

use super::*;
use crate::contract::Measured;
use crate::quality::score::{AgentScore, summary};
use crate::store::ivr_stats::NodeStats;
use crate::store::testing::{TestDb, both_backends, event, offered};

fn answered(agent: &str, score: Option<u8>) -> EventKind {
    EventKind::SurveyAnswered {
        survey: "isa".into(),
        question: "atendente".into(),
        agent: Some(agent.into()),
        score,
        reason: None,
        isa: true,
    }
}

fn started(agent: &str) -> EventKind {
    EventKind::SurveyStarted {
        survey: "isa".into(),
        agent: Some(agent.into()),
    }
}

both_backends!(
    survey_results_come_from_the_stored_answers_of_the_period,
    survey
);
async fn survey(db: TestDb) {
    let t0 = 1_000_000;
    let log = crate::store::event_log::EventLog::spawn(
        db.store.clone(),
        crate::store::event_log::EventLogConfig {
            spill_path: db.dir.path().join("spill.jsonl"),
            ..Default::default()
        },
    )
    .await
    .expect("event log starts");
    // Two calls in the period (answers 5 and 2), one after it (answer 4: not counted).
    let calls = [
        ("20260101-000001", t0, Some(5)),
        ("20260101-000002", t0 + 1000, Some(2)),
        ("20260101-000003", t0 + 20_000, Some(4)),
    ];
    for (p, at, score) in calls {
        log.record(event(p, 0, at, offered(p)));
        log.record(event(p, 1, at + 100, started("1001")));
        log.record(event(p, 2, at + 200, answered("1001", score)));
    }
    log.flush().await;
    let r = db
        .store
        .survey_results(t0, t0 + 10_000)
        .await
        .expect("read");
    assert_eq!((r.started, r.responded), (2, 2));
    assert_eq!(r.isa, Ratio::of(1, 2));
    assert_eq!(r.questions[0].counts, [0, 1, 0, 0, 1]);
    assert_eq!(r.agents[0].isa, Ratio::of(1, 2));
}

#[test]
fn the_ivr_table_has_a_row_per_node_and_the_calls_totals() {
    let s = IvrStats {
        calls: 10,
        served_by_ivr: 2,
        abandoned_in_ivr: 3,
        queued: 4,
        transferred: 1,
        pressed_zero: 2,
        pressed_zero_reached_human: 1,
        nodes: vec![NodeStats {
            flow: "principal".into(),
            node: "menu".into(),
            kind: "menu".into(),
            entries: 12,
            exits: BTreeMap::from([("0".into(), 2), ("1".into(), 7)]),
            timeouts: 1,
            invalid_inputs: 1,
            failures: 0,
            hang_ups: 3,
        }],
    };
    let t = ivr_table(&s);
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.rows[0][3], Cell::Count(12));
    assert_eq!(t.rows[0][4], Cell::Count(3));
    assert_eq!(t.rows[0][5], Cell::Percent(25.0));
    assert_eq!(t.rows[0][8], Cell::Count(2));
    assert_eq!(t.rows[1][0], Cell::Text("Total".into()));
    assert_eq!(t.rows[1][3], Cell::Count(10));
    assert_eq!(t.rows[1][5], Cell::Percent(30.0));
    assert_eq!(
        (&t.rows[1][6], &t.rows[1][7]),
        (&Cell::Count(1), &Cell::Count(1))
    );
    assert!(
        t.notes[0].contains("atendidas pela URA: 2"),
        "{:?}",
        t.notes
    );
}

fn evaluation(
    id: i64,
    protocol: &str,
    agent: &str,
    score: u32,
    revises: Option<i64>,
) -> Evaluation {
    Evaluation {
        id,
        protocol: protocol.into(),
        month: "2026-12".into(),
        agent: agent.into(),
        form_id: "padrao".into(),
        form_version: 1,
        evaluator: "monitor".into(),
        grades: BTreeMap::from([("cordialidade".into(), 100)]),
        score,
        note: String::new(),
        revises,
        submitted_at_ms: 0,
    }
}

#[test]
fn the_quality_table_lists_current_evaluations_agents_and_the_imq() {
    // Call A scored 80, corrected to 90; call B 70. IMQ = (90 + 70) ÷ 2 = 80 %.
    let evals = [
        evaluation(1, "A", "1001", 8000, None),
        evaluation(2, "A", "1001", 9000, Some(1)),
        evaluation(3, "B", "1002", 7000, None),
    ];
    let s = summary(&evals);
    assert_eq!(
        s.agents[0],
        AgentScore {
            agent: "1001".into(),
            measured: Measured::new(9000, 1)
        }
    );
    let t = quality_table("2026-12", &evals, &s);
    assert_eq!(
        t.rows.len(),
        2 + 2 + 1,
        "the revised evaluation is not listed"
    );
    assert_eq!(t.rows[0][6], Cell::Percent(90.0));
    assert_eq!(t.rows[4][0], Cell::Text("IMQ do mês".into()));
    assert_eq!(t.rows[4][6], Cell::Percent(80.0));
    assert_eq!(t.rows[4][7], Cell::Count(2));
    let empty = quality_table("2026-11", &[], &summary(&[]));
    assert_eq!(empty.rows[0][6], Cell::Empty, "no evaluation: —");
}

#[test]
fn agents_by_day_fills_every_day_of_the_period() {
    let row = |agent: &str, date: &str, calls| AgentDayRow {
        agent: agent.into(),
        date: date.into(),
        calls,
        talk_ms: 0,
        talk_max_ms: 0,
    };
    let g = agent_days(
        "2026-11-30",
        "2026-12-02",
        &[
            row("1002", "2026-12-02", 4),
            row("1001", "2026-11-30", 3),
            row("1001", "2026-12-02", 1),
            row("1001", "2026-12-09", 9),
        ],
    );
    assert_eq!(g.days, ["2026-11-30", "2026-12-01", "2026-12-02"]);
    assert_eq!(g.agents[0].agent, "1001");
    assert_eq!(
        (g.agents[0].calls.clone(), g.agents[0].total),
        (vec![3, 0, 1], 4)
    );
    assert_eq!(g.agents[1].calls, [0, 0, 4]);
    assert_eq!((g.totals.clone(), g.total), (vec![3, 0, 5], 8));
    let t = agent_days_table(&g);
    let labels: Vec<&str> = t.columns.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["Atendente", "30/11", "01/12", "02/12", "Total"]);
    assert_eq!(
        t.rows[2],
        [
            Cell::Text("Total".into()),
            Cell::Count(3),
            Cell::Count(0),
            Cell::Count(5),
            Cell::Count(8)
        ]
    );
}
