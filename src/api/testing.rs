//! Test state for the IVR and prompt routers: the shipped flows and prompts copied into
//! temp directories, a fresh SQLite store, and a `oneshot` helper (no socket).

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::{IvrAdmin, admin_routes};
use crate::ivr::{Announcements, LiveFlows};
use crate::media::prompt::PromptLibrary;
use crate::store::Store;

pub(crate) struct Fixture {
    pub flows: tempfile::TempDir,
    pub prompts: tempfile::TempDir,
    pub admin: IvrAdmin,
    _db: tempfile::TempDir,
}

fn copy_tree(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).expect("create test dir");
    for e in std::fs::read_dir(from).expect("read shipped dir") {
        let p = e.expect("dir entry").path();
        let dest = to.join(p.file_name().expect("file name"));
        if p.is_dir() {
            copy_tree(&p, &dest, keep);
        } else if keep(&p) {
            std::fs::copy(&p, &dest).expect("copy shipped file");
        }
    }
}

pub(crate) async fn fixture() -> Fixture {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flows = tempfile::tempdir().expect("temp flows dir");
    let prompts = tempfile::tempdir().expect("temp prompts dir");
    let db = tempfile::tempdir().expect("temp db dir");
    let yaml = |p: &Path| p.extension().is_some_and(|e| e == "yaml");
    let entries = std::fs::read_dir(root.join("ivr-flows")).expect("shipped flows");
    for e in entries {
        let p = e.expect("entry").path();
        if p.is_file() && yaml(&p) {
            std::fs::copy(&p, flows.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    copy_tree(&root.join("prompts"), prompts.path(), &|_| true);
    let live = LiveFlows::load(flows.path(), Some(prompts.path())).expect("shipped flows load");
    let library = PromptLibrary::load_dir(prompts.path()).expect("shipped prompts load");
    let store = Store::connect(&crate::testkit::fresh_sqlite_url(db.path()))
        .await
        .expect("SQLite opens");
    Fixture {
        flows,
        prompts,
        admin: IvrAdmin {
            flows: Arc::new(live),
            announcements: Arc::new(Announcements::new()),
            prompts: Arc::new(library),
            store,
            in_use: None,
        },
        _db: db,
    }
}

/// The admin routes under `/api`, every request made as an admin (the session and role
/// layers are tested in `ivr_tests` and end to end).
pub(crate) fn app(admin: &IvrAdmin) -> Router {
    let as_admin = axum::middleware::from_fn(
        |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
            req.extensions_mut().insert(crate::users::Principal {
                user: "admin".into(),
                role: crate::users::Role::Admin,
                agent: None,
                queues: vec![],
                agents: Vec::new(),
                teams: Vec::new(),
                session: String::new(),
            });
            next.run(req).await
        },
    );
    Router::new().nest("/api", admin_routes(admin.clone()).layer(as_admin))
}

/// Sends one request as an admin; the answer's status and JSON (`null` if none).
pub(crate) async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    body: impl Into<Body>,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("a valid test request");
    let resp = app.clone().oneshot(req).await.expect("routers never fail");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body reads");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// A WAV of a 440 Hz tone in any format, as uploaded.
pub(crate) fn wav(channels: u16, rate: u32, bits: u16, float: bool, seconds: f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).expect("WAV writer");
    let frames = (seconds * f64::from(rate)) as usize;
    for i in 0..frames {
        let v = 0.5 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / f64::from(rate)).sin();
        for _ in 0..channels {
            match (float, bits) {
                (true, _) => w.write_sample(v as f32),
                (false, 8) => w.write_sample((v * 127.0) as i8),
                (false, 16) => w.write_sample((v * 32767.0) as i16),
                (false, b) => w.write_sample((v * ((1i64 << (b - 1)) - 1) as f64) as i32),
            }
            .expect("sample written");
        }
    }
    w.finalize().expect("WAV finalized");
    out.into_inner()
}
