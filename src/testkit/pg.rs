//! A PostgreSQL for tests, with no manual setup: `$ATENDE_TEST_PG_URL` when set,
//! otherwise a throwaway cluster started once per test process from Debian's
//! `postgresql` package, on a free loopback port, removed when the process exits.
//!
//! The cluster trades durability for speed (`fsync=off`): it lives for one test run.
//! initdb refuses to run as root, so as root the cluster belongs to the `postgres`
//! system user. Clean-up is a detached shell that waits for this process to disappear
//! (a test binary has no reliable exit hook), then stops the cluster and removes it.
//!
//! Also `Link`: a loopback TCP relay tests put between a pool and the database, so they
//! can cut the database off and bring it back without touching the shared cluster.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const INSTALL_HINT: &str = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: \
     run ./scripts/install-test-deps.sh (installs Debian's `postgresql` package), \
     or set ATENDE_TEST_PG_URL to a server the tests may create databases on";

/// A URL to a PostgreSQL server tests may use (its `postgres` database).
pub fn pg_url() -> String {
    if let Ok(url) = std::env::var("ATENDE_TEST_PG_URL") {
        return url;
    }
    static CLUSTER: OnceLock<String> = OnceLock::new();
    CLUSTER.get_or_init(start_cluster).clone()
}

/// A URL to a new, empty database with a unique name, so tests can run in parallel.
pub fn fresh_pg_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = pg_url();
    let name = format!(
        "atende_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let statement = format!("CREATE DATABASE {name}");
    // The caller may be inside a tokio runtime, which cannot block on another one:
    // the database is created from a thread of its own.
    let admin = base.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for creating a test database");
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to test PostgreSQL {admin}: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("cannot create test database: {e}"));
            let _ = conn.close().await;
        });
    })
    .join()
    .expect("creating a test database panicked");
    with_database(&base, &name)
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

fn pg_bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!("{INSTALL_HINT}"),
    }
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A command run as the cluster's owner: `postgres` when we are root, else ourselves.
fn as_owner(program: &Path, dir: &Path) -> Command {
    let mut cmd = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    // The owner may not be allowed into our working directory.
    cmd.current_dir(dir);
    cmd
}

fn run(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("test PostgreSQL: cannot run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "test PostgreSQL: {what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface accepts a listener on an ephemeral port")
}

fn start_cluster() -> String {
    let bin = pg_bin_dir();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("atende-pg-{}-{stamp:x}", std::process::id()));
    let data = dir.join("data");
    let sock = dir.join("sock");
    std::fs::create_dir_all(&sock)
        .unwrap_or_else(|e| panic!("test PostgreSQL: cannot create {}: {e}", dir.display()));
    if running_as_root() {
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("postgres:postgres").arg(&dir);
        run(chown, "chown (is there a `postgres` system user?)");
    }
    // Registered first, so a failure below still leaves nothing behind.
    spawn_watchdog(&bin, &dir, &data);

    let mut initdb = as_owner(&bin.join("initdb"), &dir);
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-sync",
        "--locale=C",
    ]);
    run(initdb, "initdb");

    // A free port may be taken between our probe and the server's bind: try a few.
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            sock.display()
        );
        let mut pg_ctl = as_owner(&bin.join("pg_ctl"), &dir);
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]);
        // pg_ctl's server must not share our stdout: cargo would wait for it to close.
        let out = pg_ctl
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|e| panic!("test PostgreSQL: cannot run pg_ctl: {e}"));
        if out.status.success() {
            return format!("postgres://postgres@127.0.0.1:{port}/postgres");
        }
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        last_error = format!("{}\n{log}", String::from_utf8_lossy(&out.stderr));
    }
    panic!("test PostgreSQL did not start:\n{last_error}");
}

/// Stops the cluster and removes its directory once this process is gone.
fn spawn_watchdog(bin: &Path, dir: &Path, data: &Path) {
    let stop = format!(
        "{} -D '{}' stop -m immediate",
        bin.join("pg_ctl").display(),
        data.display()
    );
    let stop = if running_as_root() {
        format!("runuser -u postgres -- {stop}")
    } else {
        stop
    };
    // The outer shell exits at once (and is reaped here); the background subshell is
    // left to init, outliving this process.
    let script = format!(
        "(while kill -0 {pid} 2>/dev/null; do sleep 1; done; cd /; {stop}; rm -rf '{dir}') \
         </dev/null >/dev/null 2>&1 &",
        pid = std::process::id(),
        dir = dir.display(),
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C aimed at the tests must not kill the clean-up.
        .process_group(0)
        .status()
        .unwrap_or_else(|e| panic!("test PostgreSQL: cannot start the clean-up watchdog: {e}"));
    assert!(
        status.success(),
        "test PostgreSQL: the clean-up watchdog did not start"
    );
}

/// A loopback TCP relay to a database that tests can cut and restore, simulating an
/// outage. Connect pools to `url()`; the relay must be used inside a tokio runtime.
pub struct Link {
    listen: SocketAddr,
    upstream: SocketAddr,
    url: String,
    /// Flipping it ends every relayed connection.
    generation: tokio::sync::watch::Sender<u64>,
    acceptor: Option<tokio::task::JoinHandle<()>>,
}

impl Link {
    /// Relays to the host and port of `db_url` (a `postgres://` URL on 127.0.0.1).
    pub async fn start(db_url: &str) -> Link {
        let (scheme, rest) = db_url.split_once("://").expect("a postgres:// URL");
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, hostport) = match auth.rsplit_once('@') {
            Some((u, h)) => (format!("{u}@"), h),
            None => (String::new(), auth),
        };
        let upstream: SocketAddr = hostport
            .parse()
            .unwrap_or_else(|e| panic!("Link needs an IP:port database URL, got {hostport}: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback listener for the relay");
        let listen = listener
            .local_addr()
            .expect("bound listener has an address");
        let url = format!("{scheme}://{user}{listen}/{path}");
        let (generation, _) = tokio::sync::watch::channel(0);
        let mut link = Link {
            listen,
            upstream,
            url,
            generation,
            acceptor: None,
        };
        link.acceptor = Some(link.accept_on(listener));
        link
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops every relayed connection and refuses new ones.
    pub fn cut(&mut self) {
        if let Some(a) = self.acceptor.take() {
            a.abort();
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// Accepts connections again, on the same address.
    pub async fn restore(&mut self) {
        if self.acceptor.is_none() {
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .expect("the relay's port is free again after a cut");
            self.acceptor = Some(self.accept_on(listener));
        }
    }

    fn accept_on(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let upstream = self.upstream;
        let generation = self.generation.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = generation.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_name_replaces_only_the_path() {
        assert_eq!(
            with_database(
                "postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable",
                "t1"
            ),
            "postgres://u:p@127.0.0.1:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t2"), "postgres://h:1/t2");
    }

    #[tokio::test]
    async fn fresh_databases_are_distinct_and_usable() {
        use sqlx::Connection;
        let a = tokio::task::spawn_blocking(fresh_pg_database)
            .await
            .expect("provisions");
        let b = tokio::task::spawn_blocking(fresh_pg_database)
            .await
            .expect("provisions");
        assert_ne!(a, b);
        let mut conn = sqlx::PgConnection::connect(&a).await.expect("connects");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .expect("answers");
        assert_eq!(one, 1);
    }
}
