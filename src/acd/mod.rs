//! The ACD (DAC): queues, agents and routing decisions.
//!
//! Being written; see issue "The ACD".

pub mod cli;
