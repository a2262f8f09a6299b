//! The draw, the forms and the scores, with values computed by hand (the draw's order
//! by an independent SHA-256: Python's hashlib).

use std::collections::BTreeMap;

use super::form::FormError;
use super::sample::{candidates_digest, draw};
use super::score::summary;
use super::*;

fn cand(protocol: &str, agent: &str) -> Candidate {
    Candidate {
        protocol: protocol.into(),
        agent: agent.into(),
        queue: Some("sac".into()),
        talk_ms: 60_000,
    }
}

const ZERO_SEED: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn the_draw_is_reproducible_from_seed_and_list() {
    let mut list: Vec<Candidate> = (1..=5)
        .map(|i| cand(&format!("20261201-00000{i}"), "1001"))
        .collect();
    list.push(cand("20261201-000009", "1002"));
    let picked = draw(ZERO_SEED, &list, 3);
    let got: Vec<(&str, &str, u32)> = picked
        .iter()
        .map(|p| {
            (
                p.candidate.agent.as_str(),
                p.candidate.protocol.as_str(),
                p.rank,
            )
        })
        .collect();
    // sha256("00…00:20261201-00000N"): N=3 09de…, N=2 0f72…, N=5 1385…, N=4 1405…, N=1 7198….
    assert_eq!(
        got,
        [
            ("1001", "20261201-000003", 1),
            ("1001", "20261201-000002", 2),
            ("1001", "20261201-000005", 3),
            ("1002", "20261201-000009", 1),
        ]
    );
    // The order of the input does not matter, the seed does.
    let mut reversed = list.clone();
    reversed.reverse();
    assert_eq!(draw(ZERO_SEED, &reversed, 3), picked);
    let other = draw(&"11".repeat(32), &list, 3);
    assert_ne!(other, picked);
    assert_eq!(other.len(), 4);
    // Fewer candidates than the size: all of them.
    assert_eq!(draw(ZERO_SEED, &list, 100).len(), 6);
    assert!(draw(ZERO_SEED, &[], 5).is_empty());
    // The digest pins the list drawn from.
    assert_ne!(candidates_digest(&list), candidates_digest(&list[1..]));
}

#[test]
fn the_tender_form_scores_with_20_20_40_20() {
    let form = Form::tender_default();
    form.validate().expect("the default form is valid");
    let grades = |c, r, a, d| -> BTreeMap<String, u32> {
        [
            ("cortesia", c),
            ("registro", r),
            ("resposta", a),
            ("duracao", d),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    // 20×100 + 20×50 + 40×75 + 20×0 = 6000 → 60.00 points.
    assert_eq!(form.score(&grades(100, 50, 75, 0)), Ok(6_000));
    assert_eq!(form.score(&grades(100, 100, 100, 100)), Ok(10_000));
    assert_eq!(form.score(&grades(0, 0, 0, 0)), Ok(0));
    // 20×33 + 20×67 + 40×99 + 20×1 = 660 + 1340 + 3960 + 20 = 5980.
    assert_eq!(form.score(&grades(33, 67, 99, 1)), Ok(5_980));
    assert_eq!(
        form.score(&grades(101, 0, 0, 0)),
        Err(FormError::Grade("cortesia".into()))
    );
    let mut missing = grades(1, 1, 1, 1);
    missing.remove("resposta");
    assert_eq!(
        form.score(&missing),
        Err(FormError::Missing("resposta".into()))
    );
    let mut extra = grades(1, 1, 1, 1);
    extra.insert("simpatia".into(), 5);
    assert_eq!(
        form.score(&extra),
        Err(FormError::Unknown("simpatia".into()))
    );
}

#[test]
fn forms_must_weigh_100_with_unique_keys() {
    let mut f = Form::tender_default();
    f.criteria[2].weight = 39;
    assert_eq!(f.validate(), Err(FormError::WeightSum(99)));
    let mut f = Form::tender_default();
    f.criteria[1].key = "cortesia".into();
    assert_eq!(f.validate(), Err(FormError::Key("cortesia".into())));
    let mut f = Form::tender_default();
    f.id = "IMQ".into();
    assert_eq!(f.validate(), Err(FormError::Id));
    let mut f = Form::tender_default();
    f.criteria.clear();
    assert_eq!(f.validate(), Err(FormError::CriteriaCount));
    let mut f = Form::tender_default();
    f.criteria[0].weight = 0;
    f.criteria[2].weight = 60;
    assert_eq!(f.validate(), Err(FormError::Weight("cortesia".into())));
}

fn eval(id: i64, protocol: &str, agent: &str, evaluator: &str, score: u32) -> Evaluation {
    Evaluation {
        id,
        protocol: protocol.into(),
        month: "2026-12".into(),
        agent: agent.into(),
        form_id: "imq".into(),
        form_version: 1,
        evaluator: evaluator.into(),
        grades: BTreeMap::new(),
        score,
        note: String::new(),
        revises: None,
        submitted_at_ms: 0,
    }
}

#[test]
fn revisions_replace_and_calls_count_once() {
    let mut fix = eval(4, "p1", "1001", "ana", 9_000);
    fix.revises = Some(1);
    let evals = [
        eval(1, "p1", "1001", "ana", 5_000), // revised by 4
        eval(2, "p1", "1001", "bia", 8_001), // a second evaluator of p1
        eval(3, "p2", "1002", "ana", 7_000),
        fix,
    ];
    let s = summary(&evals);
    // p1: (9000 + 8001) / 2 = 8500.5 → 8501 (half up); p2: 7000.
    assert_eq!(s.calls["p1"], 8_501);
    assert_eq!(s.calls["p2"], 7_000);
    assert_eq!(s.imq, crate::contract::Measured::new(15_501, 2));
    assert_eq!(s.agents.len(), 2);
    assert_eq!(s.agents[0].agent, "1001");
    assert_eq!(
        s.agents[0].measured,
        crate::contract::Measured::new(8_501, 1)
    );
    // 15501 / 2 / 100 = 77.505 % → the contract's IMQ band "≥ 60 % e < 80 %".
    let table =
        crate::contract::default_table(crate::contract::KpiId::Imq).expect("IMQ has a table");
    assert_eq!(
        table.judge(crate::contract::Unit::PercentFromHundredths, s.imq),
        Some(0)
    );
}

#[test]
fn months_parse_and_bound_in_local_time() {
    let tz = jiff::tz::TimeZone::get("America/Sao_Paulo").expect("tzdb");
    let m: Month = "2026-12".parse().expect("valid");
    assert_eq!(m.to_string(), "2026-12");
    let (from, to) = m.bounds_ms(&tz).expect("bounds");
    // 2026-12-01T00:00-03:00 = 2026-12-01T03:00Z; 2027-01-01T03:00Z.
    assert_eq!(from, 1_796_094_000_000);
    assert_eq!(to, 1_798_772_400_000);
    assert_eq!(Month::of(from, &tz), Some(m));
    assert_eq!(
        Month::of(from - 1, &tz),
        Some("2026-11".parse().expect("valid"))
    );
    for bad in ["2026-13", "2026-1", "26-12", "x", "2026-12-01"] {
        assert!(bad.parse::<Month>().is_err(), "{bad}");
    }
}

#[test]
fn settings_are_checked() {
    assert!(QualitySettings::default().check().is_ok());
    let zero = QualitySettings {
        sample_per_agent: 0,
        ..QualitySettings::default()
    };
    assert!(zero.check().is_err());
}
