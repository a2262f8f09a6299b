//! SIP: the registrar, trunk admission and the B2BUA, over rsipstack.
//!
//! `digest`, `location` and `auth_limit` are pure rules; the rest is the IO shell.

pub mod acd;
mod admit;
pub mod auth_limit;
pub mod call;
pub mod call_log;
pub mod callback;
pub mod callback_store;
pub mod dialog_router;
pub mod digest;
pub mod exchange;
pub mod feature_code;
pub mod hot_desk;
pub mod identity;
mod ivr_driver;
mod legs;
pub mod location;
pub mod q850;
mod queued;
pub mod registrar;
pub mod request;
pub mod server;
pub mod session_timer;
pub mod validate;
