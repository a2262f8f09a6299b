//! The IVR (URA): menu flows in YAML and their pure interpreter.
//!
//! - `format`: the YAML file format (and its JSON Schema); `compile` turns files into an
//!   immutable [`FlowSet`] (`model`); `check` judges it (`atende ivr check`) and loads it
//!   for the server ([`FlowSet::load_dir`]), refusing a set with any problem; `yaml_keys`
//!   finds the unquoted keys YAML readers disagree on (`07:`).
//! - `interp` (+ `keys`): the per-call [`Interpreter`], sans-IO like `call::machine`: inputs
//!   with `now` in, actions out, never a clock read. `say`, `cpf`, `template` are its pure
//!   helpers; `io` its inputs, actions and step log ([`IvrEvent`]).
//! - `sim`: runs the interpreter on a simulated clock (`atende ivr simulate`, benchmark).
//!
//! - `live` holds the running set; `watch` reloads it when a flow file changes.
//!
//! Must not import tokio, sqlx or anything from `sip`, `media`, `store` or `api` (except
//! the shells `cli` and `watch`, which read files and run a watcher thread): the server's
//! shell carries the actions out and maps `IvrEvent`s into the call's event log.

pub mod announcement;
pub mod check;
pub mod check_queues;
pub mod cli;
pub mod compile;
pub mod condition;
pub mod cpf;
pub mod error;
pub mod format;
mod http;
pub mod interp;
pub mod io;
mod keys;
pub mod live;
pub mod model;
pub mod say;
pub mod sim;
pub mod source;
pub use crate::template;
pub mod watch;
pub mod yaml_keys;

pub use announcement::Announcements;
pub use check_queues::check_queue_names;
pub use compile::Source;
pub use error::{CheckError, CheckErrors, Problem};
pub use interp::Interpreter;
pub use io::{
    Action, CallInfo, Destination, Enqueue, FetchRequest, HttpReply, Input, IvrEvent, Outcome,
    PlaybackId, RequestId,
};
pub use live::LiveFlows;
pub use model::FlowSet;

#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod interp_tests;
#[cfg(test)]
mod robust_tests;
