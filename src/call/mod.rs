//! Pure call logic: what a call does next, given what happened. No IO.

pub mod machine;
