//! The definitions in force (`[reports]`): kept with the config (`config::reports`) so
//! the config can name them without depending on the reports; re-exported here.

pub use crate::config::reports::{
    DEFAULT_THRESHOLD_MS, DEFINITIONS_VERSION, Definitions, DefinitionsError,
};
