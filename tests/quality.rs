//! End to end, on SQLite and PostgreSQL: quality monitoring (IMQ) over a real call. A sipp
//! caller talks to an agent phone; the month's sample is drawn once (seed and filters
//! kept, a second draw refused); roles are enforced (agent refused, auditor read-only,
//! supervisor only in scope); a monitor opens `/qualidade/` in headless Chromium, plays
//! the recording in the page, grades the tender's four criteria and sees the IMQ; a
//! correction is a linked revision; everything is in the audit log.

#[path = "support/browser.rs"]
mod browser;
mod support;

use browser::Browser;
use serde_json::Value;
use support::*;

fn login_as(server: &Server, user: &str, password: &str) -> String {
    login(server.http_port, user, password)
        .expect("HTTP reachable")
        .unwrap_or_else(|| panic!("{user} cannot log in"))
}

fn audit_has(server: &Server, cookie: &str, actor: &str, action: &str, target: &str) -> bool {
    let (status, audit) = request_as(server, "GET", "/api/audit?limit=1000", cookie, None);
    assert_eq!(status, 200);
    audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["actor"] == actor && e["action"] == action && e["target"] == target)
}

/// The month of now in São Paulo, as the server counts it.
fn this_month() -> String {
    let tz = jiff::tz::TimeZone::get("America/Sao_Paulo").expect("tzdb");
    let now = jiff::Timestamp::now().as_millisecond();
    atende::quality::Month::of(now, &tz)
        .expect("a month")
        .to_string()
}

fn quality_end_to_end(db: Db, browser_test: Option<&str>) {
    let server = Server::start(db, &["1001"]);
    let agent_port = free_port();
    register_agent(&server, "1001", agent_port);
    let agent = start_answering_agent(&server, agent_port, 1, 500);
    let caller = start_caller(&server, 3500, 2500, &[]);
    wait_ok(caller, "caller", &server);
    wait_ok(agent, "agent phone", &server);
    let (protocol, _) = wait_for_event(&server, "recording_finalized");

    // Calls this short are drawn only with a low talk filter: set it, and the invoice.
    let path = server.dir.path().join("atende.toml");
    let mut config = std::fs::read_to_string(&path).expect("config");
    // The contract started today: this month is in its adaptation period.
    let today = jiff::tz::TimeZone::get("America/Sao_Paulo")
        .expect("tzdb")
        .to_datetime(jiff::Timestamp::now())
        .date();
    config.push_str(&format!(
        "\n[quality]\nsample_per_agent = 2\nmin_talk_secs = 1\n\n\
         [contract]\ninvoice_value = 100000.0\nstart_date = \"{today}\"\n"
    ));
    std::fs::write(&path, config).expect("config written");
    let server = server.restart();

    let adm = login_as(&server, ADMIN_USER, ADMIN_PASSWORD);
    for user in [
        r#"{"name":"aud","role":"auditor","password":"senha-aud-1"}"#,
        r#"{"name":"ag","role":"agent","agent":"1001","password":"senha-ag-1"}"#,
        r#"{"name":"sup","role":"supervisor","queues":["geral"],"password":"senha-sup-1"}"#,
    ] {
        let (status, body) = request_as(&server, "POST", "/api/users", &adm, Some(user));
        assert_eq!(status, 201, "{body}");
    }
    let aud = login_as(&server, "aud", "senha-aud-1");
    let ag = login_as(&server, "ag", "senha-ag-1");
    let sup = login_as(&server, "sup", "senha-sup-1");
    let month = this_month();
    let month_path = format!("/api/quality/months/{month}");
    let sample_path = format!("{month_path}/sample");

    // Agents may not see quality monitoring; auditors may not draw.
    assert_eq!(request_as(&server, "GET", &month_path, &ag, None).0, 403);
    assert_eq!(request_as(&server, "POST", &sample_path, &aud, None).0, 403);
    let (status, view) = request_as(&server, "GET", &month_path, &aud, None);
    assert_eq!(status, 200);
    assert_eq!(view["sample"], Value::Null);
    assert_eq!(view["min_talk_secs"], 1);

    // The draw: the one call, its seed and filters kept; never twice.
    let (status, run) = request_as(&server, "POST", &sample_path, &adm, None);
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["candidates"], 1);
    assert_eq!(run["per_agent"], 2);
    assert_eq!(run["min_talk_ms"], 1000);
    assert_eq!(run["seed"].as_str().map(str::len), Some(64));
    let (status, again) = request_as(&server, "POST", &sample_path, &sup, None);
    assert_eq!(status, 409, "{again}");
    let (_, view) = request_as(&server, "GET", &month_path, &adm, None);
    assert_eq!(view["sample"]["seed"], run["seed"]);
    let calls = view["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["protocol"], protocol.as_str());
    assert_eq!(calls[0]["agent"], "1001");
    assert_eq!(view["imq"]["value"], "—");

    // The call came through no queue: out of the supervisor's scope.
    let (_, sup_view) = request_as(&server, "GET", &month_path, &sup, None);
    assert_eq!(sup_view["calls"], serde_json::json!([]));
    let grades = r#"{"cortesia":100,"registro":50,"resposta":75,"duracao":0}"#;
    let body = format!(r#"{{"month":"{month}","protocol":"{protocol}","grades":{grades}}}"#);
    assert_eq!(
        request_as(
            &server,
            "POST",
            "/api/quality/evaluations",
            &sup,
            Some(&body)
        )
        .0,
        403
    );
    assert_eq!(
        request_as(
            &server,
            "POST",
            "/api/quality/evaluations",
            &aud,
            Some(&body)
        )
        .0,
        403
    );
    // A grade out of range or a missing criterion is refused with a reason.
    let bad = format!(
        r#"{{"month":"{month}","protocol":"{protocol}","grades":{{"cortesia":101,"registro":0,"resposta":0,"duracao":0}}}}"#
    );
    let (status, err) = request_as(
        &server,
        "POST",
        "/api/quality/evaluations",
        &adm,
        Some(&bad),
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap_or("").contains("0 to 100"),
        "{err}"
    );

    // The monitor's evaluation: in the page when a browser test runs, else by the API.
    match browser_test {
        Some(test) => evaluate_in_the_page(&server, test, &month, &protocol),
        None => {
            let (status, r) = request_as(
                &server,
                "POST",
                "/api/quality/evaluations",
                &adm,
                Some(&body),
            );
            assert_eq!(status, 201, "{r}");
        }
    }
    let (_, view) = request_as(&server, "GET", &month_path, &adm, None);
    // 20×100 + 20×50 + 40×75 + 20×0 = 6000 hundredths → 60,00 %: the 1 % band.
    assert_eq!(view["calls"][0]["score"], 6000);
    assert_eq!(view["imq"]["value"], "60,00 %");
    assert_eq!(view["imq_row"]["band"], "≥ 60 % e < 80 %");
    // 1 % of R$ 100.000,00, waived: the contract started this month (adaptation).
    assert_eq!(view["imq_row"]["waived_bp"], 100);
    assert_eq!(view["imq_row"]["discount_bp"], 0);
    assert_eq!(view["imq_row"]["discount_cents"], 0);
    let first = view["calls"][0]["evaluations"][0]["id"]
        .as_i64()
        .expect("evaluation id");
    assert!(audit_has(
        &server,
        &adm,
        "admin",
        "quality.evaluate",
        &protocol
    ));
    assert!(audit_has(&server, &adm, "admin", "quality.draw", &month));

    // The same evaluator again: refused; a correction needs a note and is linked.
    let (status, _) = request_as(
        &server,
        "POST",
        "/api/quality/evaluations",
        &adm,
        Some(&body),
    );
    assert_eq!(status, 409);
    let fix = |note: &str| {
        format!(
            r#"{{"month":"{month}","protocol":"{protocol}","revises":{first},"note":"{note}","grades":{{"cortesia":100,"registro":100,"resposta":100,"duracao":50}}}}"#
        )
    };
    assert_eq!(
        request_as(
            &server,
            "POST",
            "/api/quality/evaluations",
            &adm,
            Some(&fix(""))
        )
        .0,
        400
    );
    let (status, fixed) = request_as(
        &server,
        "POST",
        "/api/quality/evaluations",
        &adm,
        Some(&fix("reouvi a ligação")),
    );
    assert_eq!(status, 201, "{fixed}");
    assert_eq!(fixed["revises"], first);
    // 2000 + 2000 + 4000 + 1000 = 9000 → 90,00 %: target met.
    assert_eq!(fixed["score"], 9000);
    assert_eq!(
        request_as(
            &server,
            "POST",
            "/api/quality/evaluations",
            &adm,
            Some(&fix("de novo"))
        )
        .0,
        409,
        "a revised evaluation is not revised twice"
    );
    let (_, view) = request_as(&server, "GET", &month_path, &aud, None);
    assert_eq!(view["imq"]["value"], "90,00 %");
    assert_eq!(view["imq_row"]["met"], true);
    let evals = view["calls"][0]["evaluations"].as_array().expect("evals");
    assert_eq!(evals.len(), 2, "the first evaluation stays, revised");
    assert_eq!(evals[0]["score"], 6000);
    assert!(audit_has(
        &server,
        &adm,
        "admin",
        "quality.revise",
        &protocol
    ));

    // The contract panel carries the month's IMQ.
    let (status, panel) = request_as(
        &server,
        "GET",
        &format!("/api/contract/{month}"),
        &aud,
        None,
    );
    assert_eq!(status, 200);
    let imq = panel["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["kpi"] == "IMQ")
        .cloned()
        .expect("IMQ row");
    assert_eq!(imq["value"], "90,00 %");
    assert_eq!(panel["invoice_cents"], 10_000_000);

    // The month's results as a report (and its file): the current evaluation, the agent's
    // score and the IMQ; the revised evaluation is kept in the JSON, not counted.
    let path = format!("/api/reports/quality?month={month}");
    let (status, results) = request_as(&server, "GET", &path, &aud, None);
    assert_eq!(status, 200, "{results}");
    assert_eq!(results["evaluations"].as_array().map(Vec::len), Some(2));
    assert_eq!(results["summary"]["imq"]["numerator"], 9000);
    assert_eq!(results["summary"]["imq"]["denominator"], 1);
    let (_, table) = request_as(&server, "GET", &format!("{path}&format=table"), &aud, None);
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(
        rows.len(),
        3,
        "one current evaluation, one agent, the IMQ: {table}"
    );
    assert_eq!(rows[0][1]["value"], protocol.as_str());
    assert_eq!(rows[2][0]["value"], "IMQ do mês");
    assert_eq!(rows[2][6]["value"], 90.0);
    let (status, _, csv) = raw_request(
        server.http_port,
        "GET",
        &format!("{path}&format=csv"),
        &format!("Cookie: {aud}\r\n"),
        None,
    )
    .expect("HTTP reachable");
    assert_eq!(status, 200);
    let csv = String::from_utf8_lossy(&csv);
    assert!(
        csv.contains("IMQ do mês") && csv.contains(&protocol),
        "{csv}"
    );
    assert_eq!(panel["adaptation"], true);

    // Forms: a new version by an admin only, weights summing to 100; old versions stay.
    let form = r#"{"id":"imq","title":"IMQ revisado","criteria":[
        {"key":"cortesia","label":"Cortesia","weight":30},
        {"key":"resposta","label":"Resposta correta","weight":70}]}"#;
    assert_eq!(
        request_as(&server, "POST", "/api/quality/forms", &sup, Some(form)).0,
        403
    );
    let (status, created) = request_as(&server, "POST", "/api/quality/forms", &adm, Some(form));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 2);
    let bad_form = form.replace("70}", "60}");
    let (status, err) = request_as(&server, "POST", "/api/quality/forms", &adm, Some(&bad_form));
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap_or("").contains("sum to 90"),
        "{err}"
    );
    let (_, forms) = request_as(&server, "GET", "/api/quality/forms", &aud, None);
    let versions: Vec<(String, i64)> = forms
        .as_array()
        .expect("forms")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap_or("").to_owned(),
                f["version"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(versions, [("imq".to_owned(), 1), ("imq".to_owned(), 2)]);
    assert!(audit_has(&server, &adm, "admin", "quality.form", "imq"));
    assert_eq!(
        request_as(&server, "GET", &format!("/api/contract/{month}"), &ag, None).0,
        403
    );
}

/// The monitor's part in the page: log in, open the month, play the recording, grade.
fn evaluate_in_the_page(server: &Server, test: &str, month: &str, protocol: &str) {
    let mut b = Browser::start(test);
    b.collect_page_errors();
    let base = format!("http://127.0.0.1:{}", server.http_port);
    b.goto(&format!("{base}/"));
    b.fill("#usuario", ADMIN_USER);
    b.fill("#senha", ADMIN_PASSWORD);
    b.click("#entrar");
    b.wait_for(
        "logged in",
        "return location.pathname !== '/' ? location.pathname : null;",
    );
    b.goto(&format!("{base}/qualidade/?mes={month}"));
    b.wait_text("#amostra tbody", protocol);
    assert_eq!(b.text("#imq"), "—");
    assert!(b.text("#sorteio").contains("Semente"), "the seed is shown");
    b.screenshot("amostra");

    b.click(&format!("#amostra tr[data-protocolo='{protocol}'] button"));
    b.wait_text("#av-protocolo", protocol);
    // The recording plays in the page (muted: a headless browser allows that without a
    // gesture), through the audited recording route.
    let played = b.eval_async(
        "const a = document.getElementById('audio'); a.muted = true; await a.play(); \
         await new Promise((ok) => setTimeout(ok, 700)); \
         return { time: a.currentTime, src: a.currentSrc, duration: a.duration };",
    );
    assert!(played["error"].is_null(), "{played}");
    assert!(played["time"].as_f64().unwrap_or(0.0) > 0.0, "{played}");
    assert!(
        played["src"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("/api/calls/{protocol}/recording?play=true")),
        "{played}"
    );
    let labels = b.text("#criterios");
    assert!(
        labels.contains("Tratamento cortês") && labels.contains("peso 40 %"),
        "{labels}"
    );
    b.fill("#criterios input[name=cortesia]", "100");
    b.fill("#criterios input[name=registro]", "50");
    b.fill("#criterios input[name=resposta]", "75");
    b.fill("#criterios input[name=duracao]", "0");
    b.fill("#av-nota", "Boa cordialidade; orientação incompleta.");
    assert_eq!(b.text("#av-previa"), "60,00 %");
    b.screenshot("avaliando");
    b.click("#btn-enviar");
    b.wait_text("#imq", "60,00 %");
    let band = b.text("#imq-faixa");
    assert!(
        band.contains("≥ 60 % e < 80 %") && band.contains("1 %") && band.contains("adaptação"),
        "{band}"
    );
    assert!(
        !b.shown("#form-avaliacao"),
        "one evaluation per monitor: only a correction now"
    );
    b.wait_text("#amostra tbody", "60,00 %");
    b.wait_text("#agentes tbody", "1001");
    b.screenshot("avaliada");
    assert_eq!(
        b.page_errors(),
        Vec::<String>::new(),
        "no script error or CSP violation"
    );
    let adm = login_as(server, ADMIN_USER, ADMIN_PASSWORD);
    assert!(
        audit_has(server, &adm, "admin", "recording.play", protocol),
        "the play in the page is audited"
    );
}

#[test]
fn quality_sqlite_with_the_page() {
    quality_end_to_end(Db::Sqlite, Some("quality_sqlite_with_the_page"));
}

#[test]
fn quality_postgres() {
    quality_end_to_end(Db::Postgres, None);
}

/// A `[contract]` or `[quality]` setting that cannot work is refused with its name, by
/// `atende check-config` (which a start and a reload run too).
#[test]
fn unusable_contract_and_quality_settings_are_refused() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = std::fs::read_to_string(root.join("config/atende.toml"))
        .expect("shipped config")
        .replace(
            "dir = \"ivr-flows\"",
            &format!("dir = {:?}", root.join("ivr-flows").display().to_string()),
        )
        .replace(
            "dir = \"prompts\"",
            &format!("dir = {:?}", root.join("prompts").display().to_string()),
        );
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "adaptation_days = 90",
            "adaptation_days = 90\n[contract.tab]\ntarget = 7\nbands = [{ limit = 6, discount = 1 }, { discount = 3 }]",
            "contract.tab: band limits must move away from the target",
        ),
        (
            "adaptation_days = 90",
            "adaptation_days = 90\nstart_date = \"2027-02-30\"",
            "contract.start_date",
        ),
        (
            "sample_per_agent = 5",
            "sample_per_agent = 0",
            "quality.sample_per_agent must be between 1 and 1000",
        ),
    ];
    for (from, to, want) in cases {
        assert!(shipped.contains(from), "the shipped config has {from:?}");
        let path = dir.path().join("atende.toml");
        std::fs::write(&path, shipped.replacen(from, to, 1)).expect("config written");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_atende"))
            .current_dir(root)
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("atende runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{to}: {said}");
        assert!(said.contains(want), "{to}: {said}");
    }
}
