//! Pure call logic: what a call does next, given what happened. No IO.

pub mod callback;
pub mod callback_request;
pub mod machine;
