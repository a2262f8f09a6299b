//! SIP: the registrar, trunk admission and the B2BUA, over rsipstack.
//!
//! `digest`, `location` and `auth_limit` are pure rules; the rest is the IO shell.

pub mod auth_limit;
pub mod call;
pub mod digest;
pub mod exchange;
pub mod location;
pub mod registrar;
pub mod request;
pub mod server;
