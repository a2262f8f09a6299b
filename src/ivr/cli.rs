//! `atende ivr …`: check and simulate flows.

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum IvrCommand {}

pub fn run(cmd: IvrCommand) -> ExitCode {
    match cmd {}
}
