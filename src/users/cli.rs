//! `atende user …` and `atende audit verify`: work on the database named by the config
//! directly (the server need not run; a running server sees the change at the user's
//! next request, and their sessions are revoked in the same table). Passwords come from
//! the first line of stdin, never from the command line (it shows in `ps`).
//! Every change is audited with the actor `cli:$USER`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::accounts::{AccountChange, hash_password};
use super::{Accounts, NewAccount, Role};
use crate::audit::Audit;
use crate::config::Config;
use crate::store::Store;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from stdin.
    Add {
        name: String,
        /// agent, supervisor, admin or auditor.
        #[arg(long)]
        role: String,
        /// The ACD agent an agent user is (required for role agent).
        #[arg(long)]
        agent: Option<String>,
        /// Queues the user's scope covers, comma separated (or repeated).
        #[arg(long, alias = "queue", value_delimiter = ',')]
        queues: Vec<String>,
        /// Teams (`[teams.NAME]` keys) the user's scope covers, comma separated (or
        /// repeated): their agents and queues.
        #[arg(long = "team", alias = "teams", value_delimiter = ',')]
        teams: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Accepted for clarity: the password is always read from stdin.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// Set a user's password (read from stdin); their sessions end.
    Passwd {
        name: String,
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// Change a user's role; their sessions end.
    Role {
        name: String,
        role: String,
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// Replace a user's scope with these queues and teams (none: an empty scope); their
    /// sessions end.
    Scope {
        name: String,
        /// Queues, comma separated (or repeated).
        #[arg(long, alias = "queue", value_delimiter = ',')]
        queues: Vec<String>,
        /// Teams (`[teams.NAME]` keys), comma separated (or repeated).
        #[arg(long = "team", alias = "teams", value_delimiter = ',')]
        teams: Vec<String>,
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// Disable a user (they cannot log in; their sessions end).
    Disable {
        name: String,
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// Enable a disabled user again.
    Enable {
        name: String,
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// List users: name, role, agent, queues, state, teams, display name.
    List {
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
    /// Print the argon2 PHC string of the password on stdin (for `[[users]]`
    /// `password_hash`).
    Hash,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain; exits non-zero naming the first broken entry.
    Verify {
        #[arg(long, default_value = "config/atende.toml")]
        config: PathBuf,
    },
}

fn read_password() -> Option<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    (!p.is_empty()).then_some(p)
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("cannot start the runtime: {e}"))
        .ok()
}

async fn open(config: &std::path::Path) -> Option<Store> {
    open_with(config).await.map(|(s, _)| s)
}

async fn open_with(config: &std::path::Path) -> Option<(Store, Config)> {
    let c = Config::load(config).map_err(|e| eprintln!("{e}")).ok()?;
    let store = Store::connect(&c.database.url)
        .await
        .map_err(|e| eprintln!("{e}"))
        .ok()?;
    Some((store, c))
}

/// Whether every team of a scope is in `config` (printing the ones that are not). Queues
/// are not checked here, as before teams: a queue may be added to the config later.
fn teams_known(config: &Config, teams: &[String]) -> bool {
    let unknown = config.unknown_teams(teams);
    if !unknown.is_empty() {
        eprintln!(
            "team(s) not in the config's [teams]: {}",
            unknown.join(", ")
        );
    }
    unknown.is_empty()
}

fn parse_role(r: &str) -> Option<Role> {
    let role = Role::parse(r);
    if role.is_none() {
        eprintln!("role {r:?}: use agent, supervisor, admin or auditor");
    }
    role
}

pub fn run_user(cmd: UserCommand) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let ok =
        rt.block_on(async move {
            let change = |config: PathBuf,
                          name: String,
                          change: AccountChange,
                          done: &'static str| async move {
                let Some(store) = open(&config).await else {
                    return false;
                };
                let accounts = Accounts::new(store.clone(), Audit::new(store));
                match accounts.change(&actor(), &name, change).await {
                    Ok(_) => {
                        println!("{name}: {done}");
                        true
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        false
                    }
                }
            };
            match cmd {
                UserCommand::Hash => match read_password() {
                    Some(p) => match hash_password(p).await {
                        Ok(h) => {
                            println!("{h}");
                            true
                        }
                        Err(e) => {
                            eprintln!("{e}");
                            false
                        }
                    },
                    None => {
                        eprintln!("give the password on stdin");
                        false
                    }
                },
                UserCommand::Add {
                    name,
                    role,
                    agent,
                    queues,
                    teams,
                    display_name,
                    password_stdin: _,
                    config,
                } => {
                    let Some(role) = parse_role(&role) else {
                        return false;
                    };
                    let Some((store, loaded)) = open_with(&config).await else {
                        return false;
                    };
                    if !teams_known(&loaded, &teams) {
                        return false;
                    }
                    let Some(password) = read_password() else {
                        eprintln!("give the password on stdin");
                        return false;
                    };
                    let accounts = Accounts::new(store.clone(), Audit::new(store));
                    let new = NewAccount {
                        name,
                        display_name,
                        role,
                        agent,
                        queues,
                        teams,
                        password,
                    };
                    match accounts.add(&actor(), new).await {
                        Ok(a) => {
                            println!("{}: added ({})", a.name, a.role);
                            true
                        }
                        Err(e) => {
                            eprintln!("{e}");
                            false
                        }
                    }
                }
                UserCommand::Passwd { name, config } => {
                    let Some(password) = read_password() else {
                        eprintln!("give the password on stdin");
                        return false;
                    };
                    let c = AccountChange {
                        password: Some(password),
                        ..Default::default()
                    };
                    change(config, name, c, "password changed; sessions ended").await
                }
                UserCommand::Role { name, role, config } => {
                    let Some(role) = parse_role(&role) else {
                        return false;
                    };
                    let c = AccountChange {
                        role: Some(role),
                        ..Default::default()
                    };
                    change(config, name, c, "role changed; sessions ended").await
                }
                UserCommand::Scope {
                    name,
                    queues,
                    teams,
                    config,
                } => {
                    let Ok(loaded) = Config::load(&config).map_err(|e| eprintln!("{e}")) else {
                        return false;
                    };
                    if !teams_known(&loaded, &teams) {
                        return false;
                    }
                    let c = AccountChange {
                        queues: Some(queues),
                        teams: Some(teams),
                        ..Default::default()
                    };
                    change(config, name, c, "scope changed; sessions ended").await
                }
                UserCommand::Disable { name, config } => {
                    let c = AccountChange {
                        disabled: Some(true),
                        ..Default::default()
                    };
                    change(config, name, c, "disabled; sessions ended").await
                }
                UserCommand::Enable { name, config } => {
                    let c = AccountChange {
                        disabled: Some(false),
                        ..Default::default()
                    };
                    change(config, name, c, "enabled").await
                }
                UserCommand::List { config } => {
                    let Some(store) = open(&config).await else {
                        return false;
                    };
                    match Accounts::new(store.clone(), Audit::new(store)).list().await {
                        Ok(list) => {
                            for a in list {
                                println!(
                                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                                    a.name,
                                    a.role,
                                    a.agent.as_deref().unwrap_or("-"),
                                    if a.queues.is_empty() {
                                        "-".to_owned()
                                    } else {
                                        a.queues.join(",")
                                    },
                                    if a.disabled { "disabled" } else { "enabled" },
                                    if a.teams.is_empty() {
                                        "-".to_owned()
                                    } else {
                                        a.teams.join(",")
                                    },
                                    a.display_name
                                );
                            }
                            true
                        }
                        Err(e) => {
                            eprintln!("{e}");
                            false
                        }
                    }
                }
            }
        });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub fn run_audit(cmd: AuditCommand) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let AuditCommand::Verify { config } = cmd;
    rt.block_on(async move {
        let Some(store) = open(&config).await else {
            return ExitCode::FAILURE;
        };
        match crate::audit::verify(&store).await {
            Ok(v) if v.ok => {
                println!("audit log ok: {} entries chained", v.rows);
                ExitCode::SUCCESS
            }
            Ok(v) => {
                eprintln!(
                    "audit log BROKEN at entry {}: changed, or an entry before it was deleted ({} entries read)",
                    v.broken_at.unwrap_or(0),
                    v.rows
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}
