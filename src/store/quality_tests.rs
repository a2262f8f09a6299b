//! Quality tables on both databases: the candidate filters, one draw per month, forms
//! versioned, evaluations unique per evaluator and immutable.

use std::collections::BTreeMap;

use crate::acd::event::AcdEvent;
use crate::quality::sample::{candidates_digest, draw};
use crate::quality::{Form, Month};
use crate::store::event::{CallEvent, EventKind, Party};
use crate::store::testing::{TestDb, both_backends, event, offered};

use super::{EvaluationRefused, NewEvaluation, SampleRun};

/// 2026-12-10T12:00:00Z, inside December 2026 in São Paulo.
const DEC: i64 = 1_796_904_000_000;
/// 2027-01-10T12:00:00Z.
const JAN: i64 = 1_799_582_400_000;

struct CallSpec<'a> {
    protocol: &'a str,
    at: i64,
    agent: Option<&'a str>,
    queue: &'a str,
    /// Talk: agent answer at +10 s, end at +10 s + talk.
    talk_ms: i64,
    sealed: bool,
    survey_after_ms: Option<i64>,
}

fn call(s: &CallSpec) -> Vec<CallEvent> {
    let p = s.protocol;
    let mut ev = vec![
        event(p, 0, s.at, offered("c")),
        event(p, 1, s.at + 1, EventKind::Answered),
        event(
            p,
            2,
            s.at + 2,
            EventKind::Acd {
                event: AcdEvent::QueueEntered {
                    call: p.into(),
                    queue: s.queue.into(),
                    position: 1,
                    priority: 0,
                },
            },
        ),
    ];
    let answer = s.at + 10_000;
    if let Some(agent) = s.agent {
        ev.push(event(
            p,
            3,
            answer,
            EventKind::AgentAnswered {
                agent: agent.into(),
            },
        ));
    }
    if let Some(after) = s.survey_after_ms {
        ev.push(event(
            p,
            4,
            answer + after,
            EventKind::SurveyStarted {
                survey: "isa".into(),
                agent: s.agent.map(str::to_owned),
            },
        ));
    }
    ev.push(event(
        p,
        5,
        answer + s.talk_ms,
        EventKind::HungUp {
            by: Party::Caller,
            cause: "normal".into(),
            sip_status: None,
        },
    ));
    if s.sealed {
        ev.push(event(
            p,
            6,
            answer + s.talk_ms + 5,
            EventKind::RecordingFinalized {
                path: format!("{p}.wav"),
                duration_ms: s.talk_ms,
                sha256: "ab".repeat(32),
            },
        ));
    }
    ev
}

fn spec(
    protocol: &'static str,
    at: i64,
    agent: Option<&'static str>,
    talk_ms: i64,
) -> CallSpec<'static> {
    CallSpec {
        protocol,
        at,
        agent,
        queue: "sac",
        talk_ms,
        sealed: true,
        survey_after_ms: None,
    }
}

async fn month_of_calls(db: &TestDb) {
    let mut specs = vec![
        spec("20261210-000001", DEC, Some("1001"), 90_000),
        spec("20261210-000002", DEC + 1, Some("1001"), 30_001),
        spec("20261210-000003", DEC + 2, Some("1001"), 30_000), // not over 30 s
        spec("20261210-000004", DEC + 3, Some("1002"), 45_000),
        spec("20261210-000005", DEC + 4, None, 60_000), // IVR only
        spec("20270110-000001", JAN, Some("1001"), 90_000), // next month
    ];
    let mut unsealed = spec("20261210-000006", DEC + 5, Some("1002"), 60_000);
    unsealed.sealed = false;
    specs.push(unsealed);
    // 2 minutes on the line, but the survey started after 20 s of talk.
    let mut survey = spec("20261210-000007", DEC + 6, Some("1002"), 120_000);
    survey.survey_after_ms = Some(20_000);
    specs.push(survey);
    let mut other_queue = spec("20261210-000008", DEC + 7, Some("1002"), 31_000);
    other_queue.queue = "pericia";
    specs.push(other_queue);
    for s in &specs {
        db.store.write_batch(&call(s)).await.expect("written");
    }
}

async fn candidates_and_one_draw_per_month(db: TestDb) {
    month_of_calls(&db).await;
    let tz = jiff::tz::TimeZone::get("America/Sao_Paulo").expect("tzdb");
    let month: Month = "2026-12".parse().expect("valid");
    let (from, to) = month.bounds_ms(&tz).expect("bounds");
    let cands = db
        .store
        .quality_candidates(from, to, 30_000)
        .await
        .expect("candidates");
    let got: Vec<(&str, &str, Option<&str>, i64)> = cands
        .iter()
        .map(|c| {
            (
                c.protocol.as_str(),
                c.agent.as_str(),
                c.queue.as_deref(),
                c.talk_ms,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("20261210-000001", "1001", Some("sac"), 90_000),
            ("20261210-000002", "1001", Some("sac"), 30_001),
            ("20261210-000004", "1002", Some("sac"), 45_000),
            ("20261210-000008", "1002", Some("pericia"), 31_000),
        ]
    );
    let seed = "00".repeat(32);
    let picks = draw(&seed, &cands, 1);
    assert_eq!(picks.len(), 2);
    let run = SampleRun {
        month: month.to_string(),
        seed: seed.clone(),
        per_agent: 1,
        min_talk_ms: 30_000,
        candidates: 4,
        candidates_sha256: candidates_digest(&cands),
        drawn_at_ms: DEC,
        drawn_by: "ana".into(),
    };
    assert!(
        db.store
            .quality_insert_sample(&run, &picks)
            .await
            .expect("insert")
    );
    // A second draw of the same month writes nothing.
    let mut again = run.clone();
    again.seed = "11".repeat(32);
    assert!(
        !db.store
            .quality_insert_sample(&again, &picks)
            .await
            .expect("insert")
    );
    let (stored, calls) = db
        .store
        .quality_sample("2026-12")
        .await
        .expect("read")
        .expect("drawn");
    assert_eq!(stored, run);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].agent, "1001");
    assert_eq!(calls[1].agent, "1002");
    // The stored draw is recomputable from the seed and the candidates.
    let redrawn: Vec<String> = draw(&stored.seed, &cands, 1)
        .into_iter()
        .map(|p| p.candidate.protocol)
        .collect();
    let kept: Vec<String> = calls.iter().map(|c| c.protocol.clone()).collect();
    assert_eq!(redrawn, kept);
    assert!(
        db.store
            .quality_sample("2027-01")
            .await
            .expect("read")
            .is_none()
    );
}
both_backends!(candidates_and_draw, candidates_and_one_draw_per_month);

async fn forms_versions_and_evaluations(db: TestDb) {
    month_of_calls(&db).await;
    db.store.quality_seed_default_form(1).await.expect("seeded");
    db.store
        .quality_seed_default_form(2)
        .await
        .expect("seeding twice is harmless");
    let mut form = Form::tender_default();
    form.title = "IMQ 2027".into();
    let v = db
        .store
        .quality_insert_form(&form, "admin", 3)
        .await
        .expect("new version");
    assert_eq!(v, 2);
    let forms = db.store.quality_forms().await.expect("forms");
    assert_eq!(
        forms
            .iter()
            .map(|f| (f.id.as_str(), f.version))
            .collect::<Vec<_>>(),
        [("imq", 1), ("imq", 2)]
    );
    assert_eq!(forms[0], Form::tender_default());

    let cands = vec![crate::quality::Candidate {
        protocol: "20261210-000001".into(),
        agent: "1001".into(),
        queue: Some("sac".into()),
        talk_ms: 90_000,
    }];
    let picks = draw(&"00".repeat(32), &cands, 5);
    let run = SampleRun {
        month: "2026-12".into(),
        seed: "00".repeat(32),
        per_agent: 5,
        min_talk_ms: 30_000,
        candidates: 1,
        candidates_sha256: candidates_digest(&cands),
        drawn_at_ms: DEC,
        drawn_by: "ana".into(),
    };
    assert!(
        db.store
            .quality_insert_sample(&run, &picks)
            .await
            .expect("insert")
    );

    let form = &forms[0];
    let grades: BTreeMap<String, u32> = [
        ("cortesia", 100),
        ("registro", 50),
        ("resposta", 75),
        ("duracao", 0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let first = NewEvaluation {
        month: "2026-12",
        protocol: "20261210-000001",
        agent: "1001",
        form,
        evaluator: "ana",
        grades: &grades,
        score: 6_000,
        note: "",
        revises: None,
        at_ms: DEC + 100,
    };
    let id = db
        .store
        .quality_insert_evaluation(&first)
        .await
        .expect("stored")
        .expect("accepted");
    // The same evaluator, call and form again: refused (a correction is a revision).
    assert_eq!(
        db.store
            .quality_insert_evaluation(&first)
            .await
            .expect("ran"),
        Err(EvaluationRefused::Duplicate)
    );
    let fix = NewEvaluation {
        revises: Some(id),
        score: 7_000,
        note: "ouvi de novo",
        ..first
    };
    let fixed = db
        .store
        .quality_insert_evaluation(&fix)
        .await
        .expect("stored")
        .expect("accepted");
    // Each evaluation is revised at most once.
    assert_eq!(
        db.store.quality_insert_evaluation(&fix).await.expect("ran"),
        Err(EvaluationRefused::Duplicate)
    );
    // A call outside the month's sample is refused by the database itself.
    let outside = NewEvaluation {
        protocol: "20261210-000002",
        ..first
    };
    assert!(db.store.quality_insert_evaluation(&outside).await.is_err());

    let evals = db.store.quality_evaluations("2026-12").await.expect("list");
    assert_eq!(evals.len(), 2);
    assert_eq!(evals[0].grades, grades);
    assert_eq!(evals[1].revises, Some(id));
    assert_eq!(evals[1].id, fixed);
    let s = crate::quality::score::summary(&evals);
    assert_eq!(s.imq, crate::contract::Measured::new(7_000, 1));
    assert_eq!(
        db.store
            .quality_evaluation(id)
            .await
            .expect("read")
            .map(|e| e.score),
        Some(6_000)
    );

    // The database refuses to change or delete what was submitted or drawn.
    for sql in [
        "UPDATE quality_evaluations SET score = 10000",
        "DELETE FROM quality_evaluations",
        "UPDATE quality_samples SET seed = 'x'",
        "DELETE FROM quality_sample_calls",
        "DELETE FROM quality_forms",
    ] {
        let r = on_pool!(db.store, pool => sqlx::query(sql).execute(pool).await.map(|_| ()));
        assert!(r.is_err(), "{sql} must be refused");
    }
    let evals = db.store.quality_evaluations("2026-12").await.expect("list");
    assert_eq!(evals[0].score, 6_000);
}
both_backends!(forms_and_evaluations, forms_versions_and_evaluations);
