//! `atende acd simulate` and `atende acd staff` as a user runs them: exit status and the
//! JSON keys the issue asks for.

use std::process::Command;

fn atende(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_atende"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("atende runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn simulate_prints_one_json_object_with_the_kpis() {
    let (ok, out, err) = atende(&[
        "acd",
        "simulate",
        "--agents",
        "9",
        "--aht",
        "481",
        "--patience",
        "180",
        "--profile",
        "config/arrival-profile.csv",
        "--seed",
        "4",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    for key in [
        "service_level",
        "asa_seconds",
        "abandon_rate",
        "occupancy",
        "offered",
        "answered",
        "abandoned",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {out}");
    }
    let offered = v["offered"].as_u64().expect("count");
    let answered = v["answered"].as_u64().expect("count");
    let abandoned = v["abandoned"].as_u64().expect("count");
    assert_eq!(offered, answered + abandoned);
    assert_eq!(v["intervals"].as_array().map(Vec::len), Some(20));
    assert_eq!(v["intervals"][4]["label"], "10:00-10:30");
}

#[test]
fn simulate_prints_a_table_per_interval() {
    let (ok, out, err) = atende(&[
        "acd",
        "simulate",
        "--agents",
        "6",
        "--calls-per-hour",
        "40",
        "--aht",
        "481",
        "--hours",
        "2",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("+01:30-+02:00"), "{out}");
    assert!(out.contains("overall"), "{out}");
}

#[test]
fn staff_answers_with_erlang_c_then_the_simulation() {
    let (ok, out, err) = atende(&[
        "acd",
        "staff",
        "--calls-per-hour",
        "40",
        "--aht",
        "481",
        "--target",
        "0.9/30",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["erlang_c_agents"], 9);
    let agents = v["agents"].as_u64().expect("agents");
    assert!((9..=10).contains(&agents), "{out}");
    assert!(v["simulated"]["service_level"].as_f64().expect("NS") >= 0.9);
}

#[test]
fn bad_arguments_fail_with_a_reason() {
    let (ok, _, err) = atende(&[
        "acd",
        "staff",
        "--calls-per-hour",
        "40",
        "--aht",
        "481",
        "--target",
        "ninety",
    ]);
    assert!(!ok);
    assert!(err.contains("--target"), "{err}");
    let (ok, _, err) = atende(&[
        "acd",
        "simulate",
        "--agents",
        "0",
        "--calls-per-hour",
        "40",
        "--aht",
        "481",
    ]);
    assert!(!ok);
    assert!(err.contains("agent"), "{err}");
}
