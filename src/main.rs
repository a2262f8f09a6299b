//! The `atende` command: run the server, check a config, reload a running one's.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "atende", version, about = "Contact-center telephony server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// Validate a config file offline with every check a start or reload runs (prompts,
    /// flows, queue names): prints `ok`, or every problem and exits non-zero.
    CheckConfig {
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// IVR flows: check, simulate.
    Ivr {
        #[command(subcommand)]
        command: atende::ivr::cli::IvrCommand,
    },
    /// ACD: staffing simulation and dimensioning.
    Acd {
        #[command(subcommand)]
        command: atende::acd::cli::AcdCommand,
    },
    /// Ask the running server to apply its config file again (agents, queues, trunks,
    /// routes, services) without dropping calls; exits non-zero listing the problems if it
    /// refuses (the running config stays). SIGHUP to the server does the same.
    Reload {
        /// The server's HTTP API.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An admin user (default: $ATENDE_USER); the password from $ATENDE_PASSWORD or
        /// the first line of stdin.
        #[arg(long = "user")]
        token: Option<String>,
    },
    /// Users of the pages, the API and the CTI: add, passwd, role, disable, enable, list,
    /// hash.
    User {
        #[command(subcommand)]
        command: atende::users::cli::UserCommand,
    },
    /// The audit log: verify its hash chain.
    Audit {
        #[command(subcommand)]
        command: atende::users::cli::AuditCommand,
    },
    /// Reports: rebuild the projection (facts, intervals, agent time) from the logs.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// Print the digest hashes (HA1) to store for an agent instead of its password.
    Ha1 {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "atende")]
        realm: String,
        #[arg(long)]
        password: String,
    },
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Drop the reports' projection from a local day on (all of it without --from) and
    /// replay the call and agent logs: gives exactly the numbers the live projector keeps.
    Rebuild {
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
        /// First local day to rebuild, YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
    },
    /// Close a past month (fechamento): freeze its report and contract panel with a
    /// sha256; on a closed month whose figures changed, write the next revision.
    Close {
        /// The month, YYYY-MM.
        month: String,
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
        /// Why (recorded with the revision and in the audit log).
        #[arg(long, default_value = "fechamento")]
        reason: String,
        /// Who closes it (recorded likewise).
        #[arg(long, default_value = "admin")]
        by: String,
    },
}

fn main() -> ExitCode {
    // rsipstack logs raw SIP, Authorization headers included, at INFO.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rsipstack=warn,sqlx=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match atende::config::Config::load(&config) {
            Ok(c) => {
                let problems = atende::reload::problems_offline(&c);
                if problems.is_empty() {
                    println!("{}: ok", config.display());
                    ExitCode::SUCCESS
                } else {
                    for p in &problems {
                        eprintln!("{}: {p}", config.display());
                    }
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Ivr { command } => atende::ivr::cli::run(command),
        Command::Acd { command } => atende::acd::cli::run(command),
        Command::Reload { url, token } => atende::reload::cli::run(&url, token),
        Command::User { command } => atende::users::cli::run_user(command),
        Command::Audit { command } => atende::users::cli::run_audit(command),
        Command::Reports {
            command: ReportsCommand::Rebuild { config, from },
        } => rebuild_reports(&config, from.as_deref()),
        Command::Reports {
            command:
                ReportsCommand::Close {
                    month,
                    config,
                    reason,
                    by,
                },
        } => close_month(&config, &month, &by, &reason),
        Command::Ha1 {
            user,
            realm,
            password,
        } => {
            use atende::digest::{DigestAlgorithm, ha1_hex};
            println!(
                "ha1_md5 = \"{}\"",
                ha1_hex(DigestAlgorithm::Md5, &user, &realm, &password)
            );
            println!(
                "ha1_sha256 = \"{}\"",
                ha1_hex(DigestAlgorithm::Sha256, &user, &realm, &password)
            );
            ExitCode::SUCCESS
        }
        Command::Serve { config } => {
            atende::memory::limit_arenas();
            if let Err(e) = atende::memory::start_trimming(atende::memory::TRIM_EVERY) {
                // Only the RSS suffers; the server works without it.
                tracing::warn!(error = %e, "cannot start the memory trimmer");
            }
            let path = config;
            let config = match atende::config::Config::load(&path) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(serve(config, path))
        }
    }
}

fn rebuild_reports(path: &std::path::Path, from: Option<&str>) -> ExitCode {
    let config = match atende::config::Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let store = match atende::store::Store::connect(&config.database.url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let projector =
            match atende::store::reports_projector::Projector::for_config(store.clone(), &config) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
        match projector.rebuild(from).await {
            Ok(s) => {
                println!("rebuilt: {} calls, {} agents", s.calls, s.agents);
                // A closed month whose rebuilt figures differ gets a new revision.
                let audit = atende::audit::Audit::new(store.clone());
                let now = jiff::Timestamp::now().as_millisecond();
                match atende::closing::recheck(&config, &store, &audit, "rebuild", now).await {
                    Ok(revised) => {
                        for r in revised {
                            println!(
                                "closed month {} changed: revision {} sha256 {}",
                                r.month, r.revision, r.sha256
                            );
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("checking closed months failed: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("rebuild failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn close_month(path: &std::path::Path, month: &str, by: &str, reason: &str) -> ExitCode {
    let config = match atende::config::Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let store = match atende::store::Store::connect(&config.database.url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let audit = atende::audit::Audit::new(store.clone());
        let now = jiff::Timestamp::now().as_millisecond();
        match atende::closing::close(&config, &store, &audit, month, by, reason, now).await {
            Ok(c) => {
                let what = if c.written { "closed" } else { "unchanged" };
                println!(
                    "{month} {what}: revision {} sha256 {}",
                    c.revision.revision, c.revision.sha256
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn serve(config: atende::config::Config, path: PathBuf) -> ExitCode {
    let running = match atende::app::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("atende could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    atende::reload::enable(running.exchange.floor(), path, running.audit.clone());
    wait_for_signal().await;
    // A second signal during the drain stops at once (the next start closes the calls).
    tokio::select! {
        clean = running.shutdown() => {
            if !clean {
                tracing::warn!("stopped with work unfinished (see above)");
            }
        }
        () = wait_for_signal() => tracing::warn!("second stop signal: exiting without waiting"),
    }
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
