//! Quality monitoring (IMQ): the month's random sample of answered calls per agent, the
//! evaluation forms, and the scores that follow from evaluations.
//!
//! Pure: the draw (`sample`), the forms and the scoring (`form`), the month's IMQ from
//! evaluations (`score`). The store keeps the samples, forms and evaluations
//! (`crate::store::quality`) and refuses to change them once written; `/api/quality`
//! (`crate::api::quality`) and the `/qualidade/` page drive it.
//!
//! Limits: the sample is drawn once per month (a second draw is refused, so nobody can
//! redraw until the calls they like come up); calls that reach the database after the
//! draw are not in it.

use serde::Deserialize;

pub mod form;
pub mod month;
pub mod sample;
pub mod score;
#[cfg(test)]
mod tests;

pub use form::{Criterion, Form, FormError};
pub use month::Month;
pub use sample::{Candidate, Picked};
pub use score::{AgentScore, Evaluation, Summary};

/// `[quality]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySettings {
    /// Calls drawn per agent per month (fewer when the agent answered fewer).
    #[serde(default = "default_per_agent")]
    pub sample_per_agent: u32,
    /// Only calls whose talk lasted longer than this many seconds are drawn.
    #[serde(default = "default_min_talk")]
    pub min_talk_secs: u32,
}

fn default_per_agent() -> u32 {
    5
}

fn default_min_talk() -> u32 {
    30
}

impl Default for QualitySettings {
    fn default() -> Self {
        QualitySettings {
            sample_per_agent: default_per_agent(),
            min_talk_secs: default_min_talk(),
        }
    }
}

impl QualitySettings {
    pub fn check(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.sample_per_agent) {
            return Err(format!(
                "sample_per_agent must be between 1 and 1000 (got {})",
                self.sample_per_agent
            ));
        }
        if self.min_talk_secs > 86_400 {
            return Err("min_talk_secs must be at most 86400".into());
        }
        Ok(())
    }
}
