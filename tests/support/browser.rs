//! A real, headless Chromium for the pages' tests: Debian's `chromium` driven through its
//! `chromedriver` (WebDriver, `fantoccini`) on a free loopback port. Nothing is ever
//! downloaded: a missing browser or driver fails the test with the install command.
//!
//! Every wait is bounded (`WAIT`), the driver and its browser are stopped on drop, and
//! screenshots go to `target/test-artifacts/<test>/NN-<name>.png` for a human to look at.
//! The calls are blocking, like the rest of the e2e machinery. A test file takes it with
//! `#[path = "support/browser.rs"] mod browser;` next to `mod support;`.

// Each test file uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{free_port, require};

/// The longest any one wait for the page may take.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Driver,
    artifacts: PathBuf,
    shots: u32,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; screenshots are kept under
    /// `target/test-artifacts/<test>/`.
    pub fn start(test: &str) -> Browser {
        let chromium = require("chromium");
        let chromedriver = require("chromedriver");
        let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-artifacts")
            .join(test);
        let _ = std::fs::remove_dir_all(&artifacts);
        std::fs::create_dir_all(&artifacts).expect("artifact dir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        // A cold machine under a parallel test load sometimes drops the very first
        // session request (chromedriver resets the connection while Chromium starts).
        // That is the tool's start-up, not the page under test: try a fresh driver on a
        // fresh port, and keep each driver's log for the failure message.
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            let log = artifacts.join(format!("chromedriver-{attempt}.log"));
            let profile = tempfile::tempdir().expect("profile dir");
            match start_session(&rt, &chromium, &chromedriver, &log, profile.path()) {
                Ok((driver, client)) => {
                    return Browser {
                        rt,
                        client: Some(client),
                        driver,
                        artifacts,
                        shots: 0,
                        _profile: profile,
                    };
                }
                Err(e) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = tail.lines().rev().take(15).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    failures.push(format!(
                        "attempt {attempt}: {e}\n  chromedriver log ({}):\n    {}",
                        log.display(),
                        tail.join("\n    ")
                    ));
                }
            }
        }
        panic!(
            "chromium did not start under chromedriver; \
             run ./scripts/install-test-deps.sh (apt-get install chromium chromium-driver)\n{}",
            failures.join("\n")
        );
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("browser open")
    }

    fn run<T, F: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>>(
        &self,
        what: &str,
        f: F,
    ) -> T {
        match self
            .rt
            .block_on(async { tokio::time::timeout(WAIT, f).await })
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{what}: {e}"),
            Err(_) => panic!("{what}: no answer from the browser in {WAIT:?}"),
        }
    }

    /// Runs JavaScript in the page before any of its own scripts, on every page load
    /// (Chrome DevTools `Page.addScriptToEvaluateOnNewDocument`, not subject to the CSP):
    /// how a test puts a fake server in front of the page.
    pub fn before_each_page(&self, js: &str) {
        let cmd = Cdp {
            cmd: "Page.addScriptToEvaluateOnNewDocument",
            params: json!({ "source": js }),
        };
        self.run("inject script", self.c().issue_cmd(cmd));
    }

    /// From now on, every page records its script errors and Content-Security-Policy
    /// violations; `page_errors` returns them.
    pub fn collect_page_errors(&self) {
        self.before_each_page(
            "window.__pageErrors = [];\n\
             addEventListener('error', (e) => __pageErrors.push('error: ' + e.message));\n\
             addEventListener('unhandledrejection', (e) => __pageErrors.push('rejection: ' + e.reason));\n\
             document.addEventListener('securitypolicyviolation', (e) =>\n\
               __pageErrors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI));",
        );
    }

    /// What the current page recorded since it loaded (see `collect_page_errors`).
    pub fn page_errors(&self) -> Vec<String> {
        let v = self.eval(
            "return window.__pageErrors || ['collector missing'];",
            vec![],
        );
        serde_json::from_value(v).unwrap_or_default()
    }

    pub fn goto(&self, url: &str) {
        self.run(&format!("open {url}"), self.c().goto(url));
    }

    pub fn click(&self, css: &str) {
        let c = self.c();
        self.run(&format!("click {css}"), async {
            c.wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css))
                .await?
                .click()
                .await
        });
    }

    /// Replaces the text of an input.
    pub fn fill(&self, css: &str, text: &str) {
        let c = self.c();
        self.run(&format!("fill {css}"), async {
            let e = c
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css))
                .await?;
            e.clear().await?;
            e.send_keys(text).await
        });
    }

    /// Picks the `<option>` of a `<select>` by value.
    pub fn select(&self, css: &str, value: &str) {
        let c = self.c();
        self.run(&format!("select {value} in {css}"), async {
            let e = c
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css))
                .await?;
            e.select_by_value(value).await
        });
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let c = self.c();
        self.run(&format!("text of {css}"), async {
            c.wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css))
                .await?
                .text()
                .await
        })
    }

    /// Whether `css` matches an element that is displayed.
    pub fn shown(&self, css: &str) -> bool {
        let v = self.eval(
            "const e = document.querySelector(arguments[0]); \
             return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;",
            vec![json!(css)],
        );
        v.as_bool().unwrap_or(false)
    }

    /// Waits until the text of `css` contains `want`; the text then.
    pub fn wait_text(&self, css: &str, want: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.eval(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![json!(css)],
            );
            if let Some(t) = got.as_str()
                && t.contains(want)
            {
                return t.to_string();
            }
            if Instant::now() > deadline {
                self.screenshot_as("timeout");
                panic!("{css} never showed {want:?}; it shows {got}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the JavaScript expression `cond` (a function body returning a value) is
    /// truthy; returns that value.
    pub fn wait_for(&self, what: &str, cond: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.eval(cond, vec![]);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                self.screenshot_as("timeout");
                panic!("never true: {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs a function body in the page with `arguments`; its return value.
    pub fn eval(&self, js: &str, args: Vec<Value>) -> Value {
        self.run("script", self.c().execute(js, args))
    }

    /// Runs an async function body (which may `await`) and returns what it returns.
    pub fn eval_async(&self, body: &str) -> Value {
        let js = format!(
            "const done = arguments[arguments.length - 1]; \
             (async () => {{ {body} }})().then(done, (e) => done({{ error: String(e && e.stack || e) }}));"
        );
        self.run("async script", self.c().execute_async(&js, vec![]))
    }

    /// Logs the page's session out and `user` in (the page's own fetches, cookie and
    /// all), asserting the login is accepted; the page stays where it is.
    pub fn log_in_as(&self, user: &str, password: &str) {
        let status = self.eval_async(&format!(
            "await fetch('/api/logout', {{method: 'POST', credentials: 'same-origin'}}); \
             const r = await fetch('/api/login', {{method: 'POST', credentials: 'same-origin', \
               headers: {{'Content-Type': 'application/json'}}, \
               body: JSON.stringify({{user: {user:?}, password: {password:?}}})}}); \
             return r.status;"
        ));
        assert_eq!(status, 204, "{user} logs in from the page");
    }

    /// Saves a PNG of the page as `NN-<name>.png` in this test's artifact folder.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        self.shots += 1;
        let path = self.artifacts.join(format!("{:02}-{name}.png", self.shots));
        let png = self.run("screenshot", self.c().screenshot());
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    fn screenshot_as(&self, name: &str) {
        if let Ok(Ok(png)) = self
            .rt
            .block_on(async { tokio::time::timeout(WAIT, self.c().screenshot()).await })
        {
            let _ = std::fs::write(self.artifacts.join(format!("{name}.png")), png);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), client.close()).await
            });
        }
    }
}

/// One chromedriver on a free loopback port and one headless Chromium session under it.
fn start_session(
    rt: &tokio::runtime::Runtime,
    chromium: &std::path::Path,
    chromedriver: &std::path::Path,
    log: &std::path::Path,
    profile: &std::path::Path,
) -> Result<(Driver, Client), String> {
    let port = free_port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver does not start: {e}"))?,
    );
    let deadline = Instant::now() + WAIT;
    // Listening means ready (chromedriver keeps connections open, so no HTTP probe).
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() >= deadline {
            return Err(format!("chromedriver did not answer on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut caps = Capabilities::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--lang=pt-BR",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    let url = format!("http://127.0.0.1:{port}");
    match rt.block_on(async { tokio::time::timeout(WAIT, builder.connect(&url)).await }) {
        Ok(Ok(client)) => Ok((driver, client)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no session in {WAIT:?}")),
    }
}

/// The chromedriver process, stopped on drop even when the session never started.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // SIGTERM first: chromedriver then takes its browser down with it.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}
