//! The contract's numbers, pure: one call's event log in, one `CallFact` out; facts in,
//! additive `SlotStats` per 30-minute interval out; summed stats in, `Kpis` out; an agent's
//! state log in, time slices cut at interval and day borders out.
//!
//! No clock, database or runtime here (like `acd`): the projector
//! (`store::reports_projector`) feeds stored logs in and writes what comes out, and a full
//! rebuild runs the very same functions, which is why incremental equals rebuild. The
//! definitions (outcome partition, clocks, attribution, each KPI's numerator and
//! denominator, the settings for the tender's ambiguities) are in `docs/reports.md`; a
//! change to any of them bumps `DEFINITIONS_VERSION`.

pub mod agent_time;
pub mod definitions;
pub mod fact;
pub mod kpi;
pub mod report;
pub mod slot;
pub mod stats;
pub mod table;

#[cfg(test)]
pub(crate) mod golden_tests;
#[cfg(test)]
mod proptests;

pub use agent_time::{AfterCall, AgentEntry, AgentSlice, agent_slices};
pub use definitions::{DEFINITIONS_VERSION, Definitions, DefinitionsError};
pub use fact::{CallFact, CallFold, LogEntry, Outcome, project};
pub use kpi::{Kpis, Mean, Ratio};
pub use slot::{SlotKey, Slotter};
pub use stats::SlotStats;
