//! One caller's survey, pure (sans-IO): inputs with `now` in, actions out.
//!
//! ```text
//!   Start ─▶ intro? ─▶ ask question 1 ─▶ … ─▶ ask question N ─▶ thanks? ─▶ Finished
//!                        │  a key it takes: the score, next question
//!                        │  silence / other key: retried (with the timeout / invalid
//!                        │  prompt first), after `retries` no answer (`timeout`/`invalid`)
//!                        └  the caller hangs up: no answer (`hung_up`), nothing more
//! ```
//! A key pressed while a question plays answers it at once (the prompt is stopped); keys
//! during the introduction and the thank-you are ignored. Every question asked ends in
//! exactly one `SurveyAnswered` entry, in the order asked; a question never asked has
//! none. The wait for a key starts when the question's prompt ended.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::config::survey::SurveyConfig;
use crate::events::EventKind;

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The caller is put to the survey.
    Start,
    /// A keypad key (RFC 4733 or SIP INFO).
    Digit(char),
    /// The last `Play` ran to its end (never sent for a stopped one).
    PromptFinished,
    /// The caller hung up.
    HungUp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play these prompts back to back, replacing whatever plays.
    Play(Vec<String>),
    /// Stop the playback (a key answered the question while it played).
    Stop,
    /// Append to the call's event log (`SurveyAnswered`).
    Log(EventKind),
    /// The survey is over: the shell hangs up.
    Finished,
}

/// Why a question got no score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    Timeout,
    Invalid,
}

impl Miss {
    fn reason(self) -> &'static str {
        match self {
            Miss::Timeout => "timeout",
            Miss::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    NotStarted,
    Intro,
    Asking {
        question: usize,
        /// Times asked again after a miss.
        retried: u32,
        /// The question's prompt still plays (no wait for a key yet).
        playing: bool,
    },
    Thanks,
    Over,
}

#[derive(Debug)]
pub struct Interview {
    name: String,
    survey: Arc<SurveyConfig>,
    agent: Option<String>,
    stage: Stage,
    /// When silence after the question counts as a miss.
    deadline: Option<Instant>,
    actions: VecDeque<Action>,
}

impl Interview {
    /// A survey `name` about `agent` (the last agent who talked to the caller).
    pub fn new(name: &str, survey: Arc<SurveyConfig>, agent: Option<String>) -> Interview {
        Interview {
            name: name.to_owned(),
            survey,
            agent,
            stage: Stage::NotStarted,
            deadline: None,
            actions: VecDeque::new(),
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn is_over(&self) -> bool {
        self.stage == Stage::Over
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        match (input, self.stage.clone()) {
            (Input::Start, Stage::NotStarted) => match self.survey.intro_prompt.clone() {
                Some(intro) => {
                    self.stage = Stage::Intro;
                    self.actions.push_back(Action::Play(vec![intro]));
                }
                None => self.ask(0, 0, None),
            },
            (Input::PromptFinished, Stage::Intro) => self.ask(0, 0, None),
            (
                Input::PromptFinished,
                Stage::Asking {
                    question,
                    retried,
                    playing: true,
                },
            ) => {
                self.stage = Stage::Asking {
                    question,
                    retried,
                    playing: false,
                };
                self.deadline = Some(now + self.survey.timeout());
            }
            (Input::PromptFinished, Stage::Thanks) => self.finish(),
            (
                Input::Digit(d),
                Stage::Asking {
                    question,
                    retried,
                    playing,
                },
            ) => {
                if playing {
                    self.actions.push_back(Action::Stop);
                }
                self.deadline = None;
                match self.survey.questions[question].score(d) {
                    Some(score) => {
                        self.answer(question, Some(score), None);
                        self.next(question + 1);
                    }
                    None => self.miss(question, retried, Miss::Invalid),
                }
            }
            (Input::HungUp, Stage::Asking { question, .. }) => {
                self.answer(question, None, Some("hung_up"));
                self.deadline = None;
                self.stage = Stage::Over;
            }
            (Input::HungUp, _) => {
                self.deadline = None;
                self.stage = Stage::Over;
            }
            _ => {}
        }
    }

    /// A timer wake-up: silence after the question is a miss once the deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(at) = self.deadline else { return };
        if at > now {
            return;
        }
        self.deadline = None;
        if let Stage::Asking {
            question,
            retried,
            playing: false,
        } = self.stage
        {
            self.miss(question, retried, Miss::Timeout);
        }
    }

    fn ask(&mut self, question: usize, retried: u32, before: Option<String>) {
        let q = &self.survey.questions[question];
        let prompts = before.into_iter().chain([q.prompt.clone()]).collect();
        self.stage = Stage::Asking {
            question,
            retried,
            playing: true,
        };
        self.deadline = None;
        self.actions.push_back(Action::Play(prompts));
    }

    fn miss(&mut self, question: usize, retried: u32, why: Miss) {
        if retried >= self.survey.retries {
            self.answer(question, None, Some(why.reason()));
            self.next(question + 1);
            return;
        }
        let before = match why {
            Miss::Timeout => self.survey.timeout_prompt.clone(),
            Miss::Invalid => self.survey.invalid_prompt.clone(),
        };
        self.ask(question, retried + 1, Some(before));
    }

    fn answer(&mut self, question: usize, score: Option<u8>, reason: Option<&str>) {
        let q = &self.survey.questions[question];
        self.actions
            .push_back(Action::Log(EventKind::SurveyAnswered {
                survey: self.name.clone(),
                question: q.id.clone(),
                agent: self.agent.clone(),
                score,
                reason: reason.map(str::to_owned),
                isa: q.isa,
            }));
    }

    fn next(&mut self, question: usize) {
        if question < self.survey.questions.len() {
            return self.ask(question, 0, None);
        }
        match self.survey.thanks_prompt.clone() {
            Some(thanks) => {
                self.stage = Stage::Thanks;
                self.deadline = None;
                self.actions.push_back(Action::Play(vec![thanks]));
            }
            None => self.finish(),
        }
    }

    fn finish(&mut self) {
        self.stage = Stage::Over;
        self.deadline = None;
        self.actions.push_back(Action::Finished);
    }
}
