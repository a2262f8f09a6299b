//! The CTI: the websocket desktops (agents, supervisors) use to see live state and act on
//! it, `GET /api/cti`. Protocol v1 is written up in `docs/cti.md`.
//!
//! - `protocol`: the messages (serde) and their JSON Schema.
//! - `session`: one connection's protocol state, sans-IO (seq, resume buffer, replies).
//! - `view`: what the hub knows from the bus, the events it makes, who sees what (pure).
//! - `hub`: the bus reader, the fan-out, authentication (IO).
//! - `plan`: a command checked against the user's rights and the live state (pure).
//! - `connection`: one connection's task (IO).
//! - `session_check`: every connected desktop's login session checked together, once per
//!   heartbeat (one database read for all).
//! - `backend`: the one trait through which the CTI authenticates and acts on the server.
//! - `live`: the server's `Backend` (users, ACD, live calls, store).
//! - `ws`: the axum endpoint (credential, Origin).
//!
//! Limits: state comes from the bus only (plus an initial state), so a call that began
//! before the hub did is not shown; figures are read again per connection when an agent
//! it sees answers or finishes a call (one read at a time per connection).

pub mod backend;
mod connection;
pub mod hub;
pub mod live;
mod live_callback;
mod live_figures;
mod plan;
pub mod protocol;
pub mod session;
mod session_check;
mod socket;
pub mod view;
mod ws;

pub use backend::{Backend, Credential};
pub use hub::{Hub, HubSettings};
pub use ws::routes;

/// Seconds between heartbeats (the contract's value).
pub const HEARTBEAT_SECS: u64 = 15;
/// Messages kept per connection for resume. An agent's desktop gets a few a minute, so a
/// drop within the window always replays; a supervisor of a busy floor may get hundreds a
/// second, and after a drop longer than a few seconds a snapshot is the cheaper answer for
/// both sides. Each kept message costs its connection 24 bytes (the bodies are shared):
/// 5,000 held ~200 KiB per desktop, 2 GiB at 10,000 desktops.
pub const RESUME_BUFFER: usize = 1_000;
/// The pause reason of an agent whose desktop stayed disconnected past the grace time.
pub const DISCONNECTED_REASON: &str = "disconnected";

/// `[cti]` in the config file (defined with the rest of the config).
pub use crate::config::CtiSettings;
