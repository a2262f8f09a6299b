//! `/api/prompts` through `oneshot`: list, uploads in many formats (and a 4-minute one),
//! bad uploads, names, and deletions refused while in use.

use axum::body::Body;
use axum::http::StatusCode;

use super::testing::{app, fixture, send, wav};

/// A minimal WAVE_FORMAT_ALAW (6) file: hound cannot read it.
fn alaw_wav() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    for v in [6u16, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    for v in [1u16, 8] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(b"data");
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&[0xD5; 4]);
    b
}

#[tokio::test]
async fn the_list_shows_durations_sizes_and_the_flows_using_each_prompt() {
    let f = fixture().await;
    let (status, body) = send(&app(&f.admin), "GET", "/api/prompts", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let prompts = body["prompts"].as_array().expect("prompts");
    assert_eq!(prompts.len(), f.admin.prompts.len());
    let welcome = prompts
        .iter()
        .find(|p| p["name"] == "pt-BR/ura/boas-vindas")
        .expect("shipped welcome");
    assert!(welcome["duration_ms"].as_u64().expect("ms") > 1000);
    let size = std::fs::metadata(f.prompts.path().join("pt-BR/ura/boas-vindas.wav"))
        .expect("file")
        .len();
    assert_eq!(welcome["size_bytes"], size);
    assert_eq!(welcome["referenced_by"], serde_json::json!(["principal"]));
    let total: u64 = prompts
        .iter()
        .filter_map(|p| p["duration_ms"].as_u64())
        .sum();
    assert_eq!(body["total_duration_ms"], total);
}

#[tokio::test]
async fn uploads_in_any_common_format_are_stored_as_8khz_mono_and_heard_at_once() {
    let f = fixture().await;
    let app = app(&f.admin);
    let formats = [
        (2, 44_100, 24, false),
        (1, 48_000, 32, true),
        (1, 22_050, 8, false),
        (2, 16_000, 32, false),
        (1, 8000, 16, false),
    ];
    for (i, (ch, rate, bits, float)) in formats.into_iter().enumerate() {
        let uri = format!("/api/prompts/pt-BR/avisos/teste-{i}");
        let (status, body) = send(&app, "PUT", &uri, wav(ch, rate, bits, float, 1.0)).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{ch}ch {rate} Hz {bits} bit: {body}"
        );
        assert_eq!(body["name"], format!("pt-BR/avisos/teste-{i}"));
        assert!((999..=1001).contains(&body["duration_ms"].as_u64().expect("ms")));
        // The library the calls read has it now, at 8 kHz.
        let p = f
            .admin
            .prompts
            .get(&format!("pt-BR/avisos/teste-{i}"))
            .expect("live");
        assert!((7999..=8001).contains(&p.samples.len()));
        let path = f.prompts.path().join(format!("pt-BR/avisos/teste-{i}.wav"));
        let spec = hound::WavReader::open(&path).expect("stored WAV").spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
    }
    // Replacing: 200, new samples live, the old file gone.
    let uri = "/api/prompts/pt-BR/avisos/teste-0";
    let (status, body) = send(&app, "PUT", uri, wav(1, 8000, 16, false, 2.0)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duration_ms"], 2000);
    let p = f.admin.prompts.get("pt-BR/avisos/teste-0").expect("live");
    assert_eq!(p.samples.len(), 16_000);
    // A `.wav` suffix in the URL names the same prompt.
    let (status, _) = send(
        &app,
        "PUT",
        "/api/prompts/pt-BR/avisos/teste-0.wav",
        wav(1, 8000, 16, false, 1.0),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn four_minutes_of_announcement_fit_in_one_upload() {
    let f = fixture().await;
    let app = app(&f.admin);
    // 16 kHz stereo: 15 MB, converted (downmix and resample) to 3.8 MB.
    let body = wav(2, 16_000, 16, false, 240.0);
    assert!(body.len() > 15_000_000);
    let (status, json) = send(&app, "PUT", "/api/prompts/pt-BR/avisos/longo", body).await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    assert_eq!(json["duration_ms"], 240_000);
    assert_eq!(json["size_bytes"], 44 + 2 * 8000 * 240);
    let (_, list) = send(&app, "GET", "/api/prompts", Body::empty()).await;
    assert!(list["total_duration_ms"].as_u64().expect("ms") >= 240_000);
}

#[tokio::test]
async fn bad_uploads_get_400_with_a_clear_message_and_store_nothing() {
    let f = fixture().await;
    let app = app(&f.admin);
    let good = wav(1, 8000, 16, false, 1.0);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("empty", Vec::new(), "no audio"),
        (
            "text",
            b"this is not a wav file".to_vec(),
            "not a valid WAV",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("alaw", alaw_wav(), "unsupported WAV encoding"),
        ("silence", wav(1, 8000, 16, false, 0.0), "no audio"),
    ];
    for (name, bytes, says) in cases {
        let uri = format!("/api/prompts/pt-BR/ruim/{name}");
        let (status, body) = send(&app, "PUT", &uri, bytes).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        let msg = body["error"].as_str().expect("message");
        assert!(msg.contains(says), "{name}: {msg}");
        assert!(!msg.contains(&f.prompts.path().display().to_string()));
        assert!(f.admin.prompts.get(&format!("pt-BR/ruim/{name}")).is_none());
    }
    assert!(!f.prompts.path().join("pt-BR/ruim").exists());
    for uri in [
        "/api/prompts/pt-BR/%2E%2E/%2E%2E/etc/x",
        "/api/prompts/pt-BR//x",
        "/api/prompts/pt-BR/a.b",
        "/api/prompts/pt-BR/com%20espaco",
        "/api/prompts/%2Fetc/x",
    ] {
        let (status, body) = send(&app, "PUT", uri, good.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body["error"].as_str().expect("msg").contains("not allowed"));
    }
}

#[tokio::test]
async fn deleting_is_refused_while_a_flow_or_the_emergency_switch_uses_the_prompt() {
    let f = fixture().await;
    let app = app(&f.admin);
    let (status, body) = send(
        &app,
        "DELETE",
        "/api/prompts/pt-BR/ura/boas-vindas",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["flows"], serde_json::json!(["principal"]));
    assert!(body["error"].as_str().expect("msg").contains("principal"));
    assert!(f.admin.prompts.get("pt-BR/ura/boas-vindas").is_some());
    assert!(f.prompts.path().join("pt-BR/ura/boas-vindas.wav").exists());

    let uri = "/api/prompts/pt-BR/avisos/greve";
    let (status, _) = send(&app, "PUT", uri, wav(1, 8000, 16, false, 1.0)).await;
    assert_eq!(status, StatusCode::CREATED);
    let on = r#"{"prompt":"pt-BR/avisos/greve"}"#;
    let (status, _) = send(&app, "PUT", "/api/ivr/emergency", on).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(&app, "DELETE", uri, Body::empty()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["flows"],
        serde_json::json!(["the emergency announcement"])
    );

    let (status, _) = send(&app, "DELETE", "/api/ivr/emergency", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(&app, "DELETE", uri, Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(f.admin.prompts.get("pt-BR/avisos/greve").is_none());
    assert!(!f.prompts.path().join("pt-BR/avisos/greve.wav").exists());
    let (status, _) = send(&app, "DELETE", uri, Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, "DELETE", "/api/prompts/%2E%2E/x", Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
