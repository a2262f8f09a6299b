//! `atende ivr …`: check, simulate and describe flows from the terminal, and ask a running
//! server to reload them.
//!
//! A shell around the pure parts: reads files and the clock (for a default `--at`), prints.
//! `reload` speaks plain HTTP/1.1 over a std `TcpStream` to `POST /api/ivr/reload` (the
//! admin API listens on loopback; no TLS yet, so no client crate and no runtime here).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::check::check_files;
use super::format::{DEFAULT_TIMEZONE, entry_schema_json, flow_schema_json};
use super::io::CallInfo;
use super::sim::{self, HttpFixture, WavDurations};
use super::{FlowSet, Interpreter};

mod reload;

#[derive(Debug, clap::Subcommand)]
pub enum IvrCommand {
    /// Validate flows; exits non-zero listing every problem (file:line: node: problem).
    Check {
        /// Flow files (default: every flow in --flows).
        files: Vec<PathBuf>,
        /// The flows directory (default: the config's `[ivr] dir`, else `ivr-flows`).
        #[arg(long)]
        flows: Option<PathBuf>,
        /// Prompt files are looked up here (`NAME.wav`; default: the config's
        /// `[prompts] dir`, else `prompts`).
        #[arg(long)]
        prompts: Option<PathBuf>,
        /// The server's configuration: every queue the flows name (and `fallback_queue`)
        /// must be one of its `[[queues]]`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run a call through a flow on a simulated clock and print what the caller hears.
    Simulate {
        /// A flow file (the call starts there) or a flows directory (entry rules choose).
        flow: PathBuf,
        /// Key groups pressed each time the IVR waits for keys: `1,2,52998224725,1`;
        /// an empty group (`1,,0`) or `_` stays silent once.
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        digits: String,
        /// Local time in America/Sao_Paulo (`2026-11-24T09:30`) or an RFC 3339 instant;
        /// default now.
        #[arg(long)]
        at: Option<String>,
        /// Calling number (A-number).
        #[arg(long, default_value = "11987654321")]
        ani: String,
        /// Dialled number (DID).
        #[arg(long, default_value = "08000000000")]
        did: String,
        #[arg(long, default_value = "2026000000001")]
        protocol: String,
        /// YAML/JSON canned answers for `http` nodes.
        #[arg(long)]
        http_fixture: Option<PathBuf>,
        /// Prompt durations come from these WAV files (1.5 s assumed when missing).
        #[arg(long, default_value = "prompts")]
        prompts: PathBuf,
    },
    /// Print the JSON Schema of flow files (or, with --entry, of entry.yaml).
    Schema {
        #[arg(long)]
        entry: bool,
    },
    /// Ask the running server to reload its flows; exits non-zero listing the problems
    /// if it refuses (the running version stays).
    Reload {
        /// The server's HTTP API.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An admin user (default: $ATENDE_USER); the password from $ATENDE_PASSWORD or
        /// the first line of stdin.
        #[arg(long = "user")]
        token: Option<String>,
    },
}

pub fn run(cmd: IvrCommand) -> ExitCode {
    match cmd {
        IvrCommand::Check {
            files,
            flows,
            prompts,
            config,
        } => {
            let config = match config.as_deref().map(crate::config::Config::load) {
                None => None,
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let ivr_dir = config
                .as_ref()
                .and_then(|c| c.ivr.as_ref())
                .map(|i| i.dir.clone());
            let flows = flows.or(ivr_dir).unwrap_or_else(|| "ivr-flows".into());
            let prompts = prompts
                .or_else(|| config.as_ref().map(|c| c.prompts.dir.clone()))
                .unwrap_or_else(|| "prompts".into());
            if !check(&files, &flows, &prompts) {
                return ExitCode::FAILURE;
            }
            match config {
                Some(c) => check_queues(&c, &flows),
                None => ExitCode::SUCCESS,
            }
        }
        IvrCommand::Simulate {
            flow,
            digits,
            at,
            ani,
            did,
            protocol,
            http_fixture,
            prompts,
        } => match simulate(SimArgs {
            flow: &flow,
            digits: &digits,
            at: at.as_deref(),
            ani,
            did,
            protocol,
            http_fixture: http_fixture.as_deref(),
            prompts: &prompts,
        }) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        IvrCommand::Schema { entry } => {
            print!(
                "{}",
                if entry {
                    entry_schema_json()
                } else {
                    flow_schema_json()
                }
            );
            ExitCode::SUCCESS
        }
        IvrCommand::Reload { url, token } => {
            let Some(token) = crate::admin_client::token(token) else {
                return ExitCode::FAILURE;
            };
            match reload::reload(&url, &token) {
                Ok(outcome) => crate::admin_client::report(outcome.is_accepted(), outcome.lines()),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Prints the flows' problems (or that they are fine); whether they are fine.
fn check(files: &[PathBuf], flows: &Path, prompts: &Path) -> bool {
    let prompts = Some(prompts);
    let errors = if files.is_empty() {
        match FlowSet::load_dir(flows, prompts) {
            Ok(set) => {
                println!("{}: {} flows ok", flows.display(), set.flows().len());
                return true;
            }
            Err(e) => e.0,
        }
    } else {
        check_files(files, prompts)
    };
    if errors.is_empty() {
        println!("{} files ok", files.len());
        return true;
    }
    for e in &errors {
        eprintln!("{e}");
    }
    eprintln!("{} problems", errors.len());
    false
}

/// `--config`: the flows hand calls only to configured queues.
fn check_queues(config: &crate::config::Config, flows: &Path) -> ExitCode {
    let set = match FlowSet::load_dir(flows, None) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let known = config.queues.iter().map(|q| q.id.as_str());
    match super::check_queue_names(&set, known) {
        Ok(()) => {
            println!("every queue the flows name is configured");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

struct SimArgs<'a> {
    flow: &'a Path,
    digits: &'a str,
    at: Option<&'a str>,
    ani: String,
    did: String,
    protocol: String,
    http_fixture: Option<&'a Path>,
    prompts: &'a Path,
}

fn simulate(a: SimArgs<'_>) -> Result<ExitCode, String> {
    let (dir, start_flow) = if a.flow.is_dir() {
        (a.flow.to_owned(), None)
    } else {
        let dir = a
            .flow
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        let name = a
            .flow
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: not a flow file", a.flow.display()))?;
        (dir, Some(name))
    };
    // Prompts are not required to simulate: missing ones play for an assumed duration.
    let set = Arc::new(FlowSet::load_dir(&dir, None).map_err(|e| e.to_string())?);
    let ivr = match &start_flow {
        Some(name) => Interpreter::with_flow(set, name)
            .ok_or_else(|| format!("{}: no flow `{name}` loaded", a.flow.display()))?,
        None => Interpreter::new(set),
    };
    let wall = parse_at(a.at)?;
    let fixture = match a.http_fixture {
        Some(p) => HttpFixture::load(p).map_err(|e| e.to_string())?,
        None => HttpFixture::default(),
    };
    let presses: Vec<String> = if a.digits.is_empty() {
        Vec::new()
    } else {
        a.digits
            .split(',')
            .map(|g| {
                if g.trim() == "_" {
                    String::new()
                } else {
                    g.trim().to_owned()
                }
            })
            .collect()
    };
    let mut wavs = WavDurations::new(a.prompts);
    let report = sim::run(
        ivr,
        CallInfo {
            ani: a.ani,
            did: a.did,
            protocol: a.protocol,
            wall,
        },
        &presses,
        &fixture,
        &mut |p| wavs.duration(p),
    );
    println!(
        "call at {} (America/Sao_Paulo)",
        wall.to_zoned_datetime(
            jiff::tz::TimeZone::get(DEFAULT_TIMEZONE).unwrap_or(jiff::tz::TimeZone::UTC)
        )
    );
    print!("{}", report.transcript());
    Ok(ExitCode::SUCCESS)
}

/// `--at`: a local São Paulo time, or an RFC 3339 instant; default now.
fn parse_at(at: Option<&str>) -> Result<jiff::Timestamp, String> {
    let Some(at) = at else {
        return Ok(jiff::Timestamp::now());
    };
    if let Ok(ts) = at.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let local: jiff::civil::DateTime = at
        .parse()
        .map_err(|_| format!("--at {at:?}: expected 2026-11-24T09:30 or an RFC 3339 instant"))?;
    let tz = jiff::tz::TimeZone::get(DEFAULT_TIMEZONE).map_err(|e| e.to_string())?;
    local
        .to_zoned_datetime(tz)
        .map(|z| z.timestamp())
        .map_err(|e| format!("--at {at:?}: {e}"))
}
