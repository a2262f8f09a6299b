//! The IVR (URA): menu flows in YAML and their pure interpreter.
//!
//! Being written; see issue "The IVR".

pub mod cli;
