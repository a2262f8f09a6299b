//! The satisfaction survey (ISA, "pesquisa de satisfação") the caller answers by keypad
//! after the agent's part of the call ends.
//!
//! - `config::survey` (in the config module, which must not depend on this one): the
//!   `[surveys.NAME]` sections of the config file (questions, prompts, keys, retries,
//!   which queues and services get the survey) and the rules a survey must satisfy to be
//!   accepted at start and at reload.
//! - `interview`: the pure interpreter of one caller's survey, sans-IO like `ivr` and
//!   `call::machine`: inputs with `now` in, prompts to play and the call-log entries
//!   (`SurveyAnswered`) out, never a clock read.
//!
//! The shell (`sip::call::survey`) starts an interview when the call machine puts the
//! caller to the survey (the agent hung up, or transferred the caller to `survey`), plays
//! what it asks through the prompt library, feeds it digits, playback ends and timer
//! wake-ups, and releases the call once it is finished. Must not import tokio, sqlx or
//! anything from `sip`, `media`, `store` or `api`.

pub mod interview;

pub use crate::config::survey::{QuestionConfig, SurveyConfig, SurveyProblem};
pub use interview::{Action, Input, Interview};

#[cfg(test)]
mod interview_tests;
