//! SIP: the registrar, trunk admission and the B2BUA, over rsipstack.
//!
//! `digest`, `location` and `auth_limit` are pure rules; the rest is the IO shell.

mod admit;
pub mod auth_limit;
pub mod call;
pub mod callback;
pub mod dialog_router;
pub mod exchange;
pub mod feature_code;
pub mod handover;
pub mod identity;
mod ivr_driver;
mod legs;
pub mod location;
pub mod monitor_code;
pub mod q850;
mod queued;
pub mod registrar;
pub mod request;
pub mod server;
pub mod session_timer;
mod talk_event;
pub mod validate;
