//! `atende acd …`: the staffing simulator and the Erlang C staffing answer.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum AcdCommand {}

pub fn run(cmd: AcdCommand) -> ExitCode {
    match cmd {}
}
