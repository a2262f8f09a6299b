//! `atende ivr reload` (the real binary) against the admin routes served on a loopback
//! socket: accepted, refused with the problems listed, wrong password, nobody listening.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use atende::api::auth::login_routes;
use atende::api::{Auth, IvrAdmin, admin_routes, guarded};
use atende::ivr::{Announcements, LiveFlows};
use atende::media::prompt::PromptLibrary;
use atende::store::Store;

const PASSWORD: &str = "cli-test-password";

fn copy_shipped_flows(to: &Path) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
    for e in std::fs::read_dir(shipped).expect("shipped flows") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
        }
    }
}

async fn cli(args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atende"));
    cmd.args(["ivr", "reload"]).args(args);
    cmd.env_remove("ATENDE_PASSWORD").env_remove("ATENDE_USER");
    cmd.stdin(std::process::Stdio::null());
    if let Some(p) = password {
        cmd.env("ATENDE_PASSWORD", p);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("the atende binary runs"))
        .await
        .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_reload_cli_reports_the_new_version_or_every_problem() {
    let flows_dir = tempfile::tempdir().expect("temp");
    let db_dir = tempfile::tempdir().expect("temp");
    copy_shipped_flows(flows_dir.path());
    let flows = Arc::new(LiveFlows::load(flows_dir.path(), None).expect("shipped flows load"));
    let store = Store::connect(&atende::testkit::fresh_sqlite_url(db_dir.path()))
        .await
        .expect("SQLite");
    let admin = IvrAdmin {
        flows: flows.clone(),
        announcements: Arc::new(Announcements::new()),
        prompts: Arc::new(PromptLibrary::default()),
        store,
        in_use: None,
    };
    let http = atende::config::HttpConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_token: None,
        allowed_origins: vec![],
        tls_cert: None,
        tls_key: None,
        session_idle_secs: 600,
        session_max_secs: 3600,
    };
    let seed = atende::users::accounts::UserSeed {
        name: "admin".into(),
        display_name: None,
        role: atende::users::Role::Admin,
        agent: None,
        queues: vec![],
        teams: vec![],
        password_hash: atende::users::accounts::hash_password(PASSWORD.into())
            .await
            .expect("hash"),
    };
    let auth = Auth::start(admin.store.clone(), &http, &[seed])
        .await
        .expect("auth");
    let routes = guarded(admin_routes(admin), &auth, &[atende::users::Role::Admin]);
    let app = axum::Router::new().nest("/api", login_routes(auth).merge(routes));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let out = cli(&["--url", &url, "--user", "admin"], Some(PASSWORD)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("version 2"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(flows.version(), 2);

    let main = flows_dir.path().join("principal.yaml");
    let good = std::fs::read_to_string(&main).expect("read");
    std::fs::write(&main, good.replace("next: horario", "next: nowhere")).expect("write");
    let out = cli(&["--url", &url, "--user", "admin"], Some(PASSWORD)).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("principal.yaml:"), "{err}");
    assert!(
        err.contains("node `boas_vindas`") && err.contains("nowhere"),
        "{err}"
    );
    assert!(err.contains("the running version 2 stays"), "{err}");
    assert_eq!(flows.version(), 2);

    let out = cli(&["--url", &url, "--user", "admin"], Some("wrong-password")).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("refused the login"));
    let out = cli(&["--url", &url, "--user", "admin"], None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("ATENDE_PASSWORD"));
    let out = cli(&["--url", &url], Some(PASSWORD)).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--user"));
    // Nobody listening: a clear error, not a hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let out = cli(&["--url", &dead, "--user", "admin"], Some(PASSWORD)).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot reach"),
        "{}",
        text(&out.stderr)
    );
}
