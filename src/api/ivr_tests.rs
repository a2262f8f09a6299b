//! `/api/ivr` through `oneshot`: summary, reload refused and accepted, the emergency
//! switch, statistics, and the session and role guard.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::testing::{app, fixture, send};
use crate::ivr::IvrEvent;
use crate::ivr::io::Outcome;
use crate::store::event::{CallEvent, EventKind};

#[tokio::test]
async fn summary_lists_version_flows_and_entry_rules() {
    let f = fixture().await;
    let (status, body) = send(&app(&f.admin), "GET", "/api/ivr", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], 1);
    assert_eq!(body["default_flow"], "principal");
    assert_eq!(body["fallback_queue"], "geral");
    let flows = body["flows"].as_array().expect("flows");
    let principal = flows
        .iter()
        .find(|f| f["name"] == "principal")
        .expect("principal listed");
    assert_eq!(principal["file"], "principal.yaml", "no server paths");
    assert_eq!(principal["start"], "boas_vindas");
    assert!(principal["nodes"].as_u64().expect("count") > 10);
    let access = body["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["name"] == "acessibilidade")
        .expect("accessibility rule");
    assert_eq!(access["did"][0], "08006000190");
    assert_eq!(access["flow"], "acessibilidade");
    assert_eq!(access["priority_boost"], 10);
    assert!(body["emergency"].is_null());
}

#[tokio::test]
async fn a_broken_reload_is_refused_with_its_errors_and_a_good_one_bumps_the_version() {
    let f = fixture().await;
    let app = app(&f.admin);
    let running = f.admin.flows.current();
    let main = f.flows.path().join("principal.yaml");
    let good = std::fs::read_to_string(&main).expect("read");

    let broken = good.replace("next: horario", "next: no_such_node");
    std::fs::write(&main, broken).expect("write");
    let (status, body) = send(&app, "POST", "/api/ivr/reload", Body::empty()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["version"], 1);
    let errors = body["errors"].as_array().expect("errors");
    let e = errors
        .iter()
        .find(|e| e["node"] == "boas_vindas")
        .unwrap_or_else(|| panic!("error at the node: {body}"));
    assert_eq!(e["file"], "principal.yaml");
    assert!(e["line"].as_u64().expect("line") > 0);
    assert!(
        e["problem"]
            .as_str()
            .expect("text")
            .contains("no_such_node")
    );
    assert_eq!(f.admin.flows.version(), 1);
    assert!(std::sync::Arc::ptr_eq(&running, &f.admin.flows.current()));

    // Not YAML at all: refused too, the error names the file, no absolute path shown.
    std::fs::write(&main, "nodes: [this is not").expect("write");
    let (status, body) = send(&app, "POST", "/api/ivr/reload", Body::empty()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = body.to_string();
    assert!(text.contains("principal.yaml"), "{text}");
    let dir = f.flows.path().display().to_string();
    assert!(!text.contains(&dir), "server path leaked: {text}");

    std::fs::write(&main, good.replace("menu_pericia", "menu_pericias")).expect("write");
    let (status, body) = send(&app, "POST", "/api/ivr/reload", Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    assert!(body["flows"].as_u64().expect("flows") >= 5);
    let (_, summary) = send(&app, "GET", "/api/ivr", Body::empty()).await;
    assert_eq!(summary["version"], 2);
    assert!(!std::sync::Arc::ptr_eq(&running, &f.admin.flows.current()));
}

#[tokio::test]
async fn the_emergency_switch_needs_an_existing_prompt() {
    let f = fixture().await;
    let app = app(&f.admin);
    let (status, body) = send(&app, "GET", "/api/ivr/emergency", Body::empty()).await;
    assert_eq!((status, body["prompt"].is_null()), (StatusCode::OK, true));

    for bad in [
        r#"{"prompt":"pt-BR/nao-existe"}"#,
        r#"{"prompt":"../etc/passwd"}"#,
        r#"{"nope":1}"#,
        "not json",
    ] {
        let (status, body) = send(&app, "PUT", "/api/ivr/emergency", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    assert_eq!(f.admin.announcements.emergency(), None);

    let on = r#"{"prompt":"pt-BR/ura/boas-vindas"}"#;
    let (status, body) = send(&app, "PUT", "/api/ivr/emergency", on).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["prompt"], "pt-BR/ura/boas-vindas");
    assert_eq!(
        f.admin.announcements.emergency().as_deref(),
        Some("pt-BR/ura/boas-vindas"),
        "the call path reads this at the next call"
    );
    let (_, body) = send(&app, "GET", "/api/ivr/emergency", Body::empty()).await;
    assert_eq!(body["prompt"], "pt-BR/ura/boas-vindas");
    let (_, summary) = send(&app, "GET", "/api/ivr", Body::empty()).await;
    assert_eq!(summary["emergency"], "pt-BR/ura/boas-vindas");

    let (status, body) = send(&app, "DELETE", "/api/ivr/emergency", Body::empty()).await;
    assert_eq!((status, body["prompt"].is_null()), (StatusCode::OK, true));
    assert_eq!(f.admin.announcements.emergency(), None);
}

#[tokio::test]
async fn stats_are_read_from_the_stored_ivr_events() {
    let f = fixture().await;
    let p = "20261124-000001";
    let ev = |seq: u32, kind: EventKind| CallEvent {
        protocol: p.parse().expect("valid"),
        seq,
        at_ms: 5_000 + i64::from(seq),
        kind,
    };
    let ivr = |event| EventKind::Ivr { event };
    let events = vec![
        ev(
            0,
            EventKind::Offered {
                call_id: "c".into(),
                a_number: "11999990000".into(),
                b_number: "08000000000".into(),
                service: "sac".into(),
                source: "trunk:gw".into(),
                restricted: false,
            },
        ),
        ev(
            1,
            ivr(IvrEvent::NodeEntered {
                flow: "principal".into(),
                node: "menu_principal".into(),
                kind: "menu".into(),
            }),
        ),
        ev(
            2,
            ivr(IvrEvent::OptionChosen {
                node: "menu_principal".into(),
                digits: "0".into(),
                target: "operador".into(),
            }),
        ),
        ev(
            3,
            ivr(IvrEvent::Finished {
                outcome: Outcome::Queued {
                    queue: "geral".into(),
                },
            }),
        ),
    ];
    f.admin.store.write_batch(&events).await.expect("written");
    let app = app(&f.admin);
    let (status, body) = send(&app, "GET", "/api/ivr/stats?from=0&to=10000", Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["calls"], 1);
    assert_eq!(body["pressed_zero"], 1);
    assert_eq!(body["queued"], 1);
    assert_eq!(body["nodes"][0]["node"], "menu_principal");
    assert_eq!(body["nodes"][0]["exits"]["0"], 1);
    let (_, empty) = send(&app, "GET", "/api/ivr/stats?from=6000", Body::empty()).await;
    assert_eq!(empty["calls"], 0);
    for bad in [
        "/api/ivr/stats?from=9&to=1",
        "/api/ivr/stats?from=yesterday",
    ] {
        let (status, _) = send(&app, "GET", bad, Body::empty()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn every_admin_route_needs_an_admin_session() {
    use crate::users::Role;
    let f = fixture().await;
    let http: crate::config::HttpConfig = toml::from_str("listen = \"127.0.0.1:0\"").expect("http");
    let hash = crate::users::accounts::hash_password("senha-de-teste".into())
        .await
        .expect("hash");
    let seed = |name: &str, role| crate::users::accounts::UserSeed {
        name: name.into(),
        display_name: None,
        role,
        agent: None,
        queues: vec![],
        teams: vec![],
        password_hash: hash.clone(),
    };
    let auth = super::Auth::start(
        f.admin.store.clone(),
        &http,
        &[seed("adm", Role::Admin), seed("sup", Role::Supervisor)],
    )
    .await
    .expect("auth");
    let any = std::net::IpAddr::from([127, 0, 0, 1]);
    let (sup, _) = auth
        .sessions
        .login("sup", "senha-de-teste", any)
        .await
        .expect("supervisor logs in");
    let app = Router::new().nest(
        "/api",
        super::guarded(super::admin_routes(f.admin.clone()), &auth, &[Role::Admin]),
    );
    for (method, uri) in [
        ("GET", "/api/ivr"),
        ("POST", "/api/ivr/reload"),
        ("PUT", "/api/ivr/emergency"),
        ("DELETE", "/api/ivr/emergency"),
        ("GET", "/api/ivr/stats"),
        ("GET", "/api/prompts"),
        ("PUT", "/api/prompts/pt-BR/x"),
        ("DELETE", "/api/prompts/pt-BR/ura/boas-vindas"),
    ] {
        for (cookie, status) in [
            (None, StatusCode::UNAUTHORIZED),
            (
                Some("atende_session=wrong".to_owned()),
                StatusCode::UNAUTHORIZED,
            ),
            (Some(format!("atende_session={sup}")), StatusCode::FORBIDDEN),
        ] {
            let mut req = Request::builder().method(method).uri(uri);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let req = req.body(Body::empty()).expect("request");
            let resp = app.clone().oneshot(req).await.expect("infallible");
            assert_eq!(resp.status(), status, "{method} {uri}");
        }
    }
    assert_eq!(f.admin.flows.version(), 1);
    let denied = auth
        .sessions
        .accounts()
        .audit()
        .latest(100)
        .await
        .expect("audit");
    assert_eq!(denied.iter().filter(|e| e.action == "denied").count(), 8);
}

#[tokio::test]
async fn a_flow_naming_a_new_prompt_is_refused_until_the_prompt_is_uploaded() {
    let f = fixture().await;
    let app = app(&f.admin);
    let main = f.flows.path().join("principal.yaml");
    let good = std::fs::read_to_string(&main).expect("read");
    let with_notice = good.replace(
        "prompts: [pt-BR/ura/boas-vindas]",
        "prompts: [pt-BR/avisos/recadastramento, pt-BR/ura/boas-vindas]",
    );
    assert_ne!(with_notice, good);
    std::fs::write(&main, with_notice).expect("write");
    let (status, body) = send(&app, "POST", "/api/ivr/reload", Body::empty()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.to_string().contains("pt-BR/avisos/recadastramento"),
        "{body}"
    );

    let wav = super::testing::wav(2, 44_100, 16, false, 3.0);
    let uri = "/api/prompts/pt-BR/avisos/recadastramento";
    let (status, _) = send(&app, "PUT", uri, wav).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(&app, "POST", "/api/ivr/reload", Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    let (_, list) = send(&app, "GET", "/api/prompts", Body::empty()).await;
    let notice = list["prompts"]
        .as_array()
        .expect("prompts")
        .iter()
        .find(|p| p["name"] == "pt-BR/avisos/recadastramento")
        .expect("listed");
    assert_eq!(notice["referenced_by"], serde_json::json!(["principal"]));
}
