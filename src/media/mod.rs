//! Media: RTP relay, codecs, digits, prompts and recordings.
//!
//! `g711`, `dtmf`, `stream`, `monitor` (who hears whom) and `prompt` are pure; `session` (one call's RTP), `reactor`
//! (the worker threads that drive all sessions), `ports` and `shared_port` (where legs'
//! RTP binds) and `recording` (one shared writer thread) do the IO; `prompt_watch` brings
//! prompt files copied in by hand live.

pub mod dtmf;
pub mod dtmf_out;
pub mod g711;
mod leg;
pub mod monitor;
pub mod ports;
pub mod prompt;
pub mod prompt_watch;
#[cfg(test)]
mod prompt_watch_tests;
pub mod reactor;
#[cfg(test)]
mod reactor_tests;
pub mod recording;
mod relay;
pub mod session;
pub mod shared_port;
pub mod stream;
pub mod udp_batch;
mod uring;
pub mod voice;
