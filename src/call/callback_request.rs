//! The caller's side of asking for a callback while waiting in a queue, pure (sans-IO):
//! the queue's callback key, the number read back for confirmation (the A-number, or one
//! typed with the area code), and the request handed to the ACD. The caller keeps their
//! place and stays in the queue throughout; `*` at any point goes back to waiting.
//!
//! ```text
//!   Idle ──key──▶ Confirming(A-number) ──1──▶ Requested
//!    ▲              │ 2 / no usable A-number            ▲
//!    │              ▼                                   │ 1
//!    └── * / gave up ── Typing ──# or pause──▶ Confirming(typed)
//! ```
//! Prompt names are the shell's (`prompts/pt-BR/fila/…`); digits are said one by one.

use std::time::{Duration, Instant};

use crate::ivr::say;

pub const OFFER: &str = "pt-BR/fila/oferta-retorno";
pub const NUMBER_IS: &str = "pt-BR/fila/retorno-numero";
pub const CONFIRM: &str = "pt-BR/fila/retorno-confirmar";
pub const TYPE_NUMBER: &str = "pt-BR/fila/retorno-digite";
pub const INVALID: &str = "pt-BR/fila/retorno-invalido";
pub const REGISTERED: &str = "pt-BR/fila/retorno-registrado";
pub const UNAVAILABLE: &str = "pt-BR/fila/retorno-indisponivel";
pub const YOUR_PROTOCOL: &str = "pt-BR/ura/seu-protocolo";

/// Every prompt the dialog may play, for start-up checks.
pub const PROMPTS: &[&str] = &[
    OFFER,
    NUMBER_IS,
    CONFIRM,
    TYPE_NUMBER,
    INVALID,
    REGISTERED,
    UNAVAILABLE,
    YOUR_PROTOCOL,
];

/// Waiting for a choice after the prompt ended.
const CHOICE_TIMEOUT: Duration = Duration::from_secs(8);
/// A pause this long while typing ends the number (the caller forgot `#`).
const INTER_DIGIT: Duration = Duration::from_secs(5);
/// Invalid numbers or silences before going back to waiting.
const MAX_TRIES: u8 = 3;
/// A Brazilian number with area code: 10 (landline) or 11 (mobile) digits; 8 to 13
/// accepts local numbers and a leading carrier/zero prefix.
const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 13;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Play these prompts, replacing the hold music.
    Play(Vec<String>),
    /// Back to the hold music (the caller keeps waiting).
    ResumeWaiting,
    /// Ask the ACD for a callback (`None` = the A-number).
    Request { number: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    Confirming { typed: Option<String> },
    Typing { digits: String },
    Requested,
}

#[derive(Debug)]
pub struct CallbackRequest {
    key: char,
    a_number: String,
    state: State,
    /// The prompt of the current state is playing; the choice timer starts at its end.
    prompting: bool,
    deadline: Option<Instant>,
    tries: u8,
}

impl CallbackRequest {
    pub fn new(key: char, a_number: &str) -> CallbackRequest {
        CallbackRequest {
            key,
            a_number: a_number.chars().filter(char::is_ascii_digit).collect(),
            state: State::Idle,
            prompting: false,
            deadline: None,
            tries: 0,
        }
    }

    /// The invitation the queue plays (its `offer_callback` escalation).
    pub fn offer(&self) -> Step {
        if self.state != State::Idle {
            return Step::Play(Vec::new());
        }
        let mut p = vec![OFFER.to_owned()];
        p.extend(say::digits(&self.key.to_string()));
        Step::Play(p)
    }

    /// Whether the dialog holds the caller's ear (announcements wait).
    pub fn is_active(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn digit(&mut self, now: Instant, d: char) -> Option<Step> {
        if d == '*' && matches!(self.state, State::Confirming { .. } | State::Typing { .. }) {
            return Some(self.back_to_waiting());
        }
        match self.state.clone() {
            State::Idle if d == self.key => {
                self.tries = 0;
                Some(if self.a_number.len() >= MIN_DIGITS {
                    self.confirm(None)
                } else {
                    self.ask_number(false)
                })
            }
            State::Idle | State::Requested => None,
            State::Confirming { typed } => match d {
                '1' => {
                    self.state = State::Requested;
                    self.deadline = None;
                    Some(Step::Request { number: typed })
                }
                '2' => Some(self.ask_number(false)),
                _ => None,
            },
            State::Typing { mut digits } => {
                if d == '#' {
                    return Some(self.typed(digits));
                }
                if d.is_ascii_digit() {
                    digits.push(d);
                    self.state = State::Typing { digits };
                    self.deadline = Some(now + INTER_DIGIT);
                    self.prompting = false;
                }
                None
            }
        }
    }

    pub fn prompt_finished(&mut self, now: Instant) {
        if self.prompting {
            self.prompting = false;
            if matches!(self.state, State::Confirming { .. } | State::Typing { .. }) {
                self.deadline = Some(now + CHOICE_TIMEOUT);
            }
        }
    }

    /// Whether a playback that just ended was this dialog's (rather than music or an
    /// announcement the shell owns).
    pub fn is_prompting(&self) -> bool {
        self.prompting
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Option<Step> {
        let due = self.deadline.is_some_and(|d| now >= d);
        if !due {
            return None;
        }
        self.deadline = None;
        match self.state.clone() {
            State::Typing { digits } if !digits.is_empty() => Some(self.typed(digits)),
            State::Confirming { typed } => {
                self.tries += 1;
                if self.tries >= MAX_TRIES {
                    return Some(self.back_to_waiting());
                }
                Some(self.confirm(typed))
            }
            State::Typing { .. } => {
                self.tries += 1;
                if self.tries >= MAX_TRIES {
                    return Some(self.back_to_waiting());
                }
                Some(self.ask_number(false))
            }
            State::Idle | State::Requested => None,
        }
    }

    /// The ACD could not take the request (the call was answered meanwhile, or the queue
    /// refuses callbacks): the caller hears so and keeps waiting.
    pub fn refused(&mut self) -> Step {
        self.state = State::Idle;
        self.deadline = None;
        self.prompting = false;
        Step::Play(vec![UNAVAILABLE.to_owned()])
    }

    /// What the caller hears once the ACD registered the callback, before the hang-up.
    pub fn registered(protocol: &str) -> Vec<String> {
        let mut p = vec![REGISTERED.to_owned(), YOUR_PROTOCOL.to_owned()];
        p.extend(say::digits(protocol));
        p
    }

    fn typed(&mut self, digits: String) -> Step {
        if (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            self.tries = 0;
            return self.confirm(Some(digits));
        }
        self.tries += 1;
        if self.tries >= MAX_TRIES {
            return self.back_to_waiting();
        }
        self.ask_number(true)
    }

    fn confirm(&mut self, typed: Option<String>) -> Step {
        let mut p = vec![NUMBER_IS.to_owned()];
        p.extend(say::digits(typed.as_deref().unwrap_or(&self.a_number)));
        p.push(CONFIRM.to_owned());
        self.state = State::Confirming { typed };
        self.prompting = true;
        self.deadline = None;
        Step::Play(p)
    }

    fn ask_number(&mut self, after_invalid: bool) -> Step {
        self.state = State::Typing {
            digits: String::new(),
        };
        self.prompting = true;
        self.deadline = None;
        let mut p = Vec::new();
        if after_invalid {
            p.push(INVALID.to_owned());
        }
        p.push(TYPE_NUMBER.to_owned());
        Step::Play(p)
    }

    fn back_to_waiting(&mut self) -> Step {
        self.state = State::Idle;
        self.deadline = None;
        self.prompting = false;
        Step::ResumeWaiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn played(s: Option<Step>) -> Vec<String> {
        match s {
            Some(Step::Play(p)) => p,
            other => panic!("expected a prompt, got {other:?}"),
        }
    }

    #[test]
    fn the_a_number_is_read_back_and_confirmed() {
        let t = Instant::now();
        let mut r = CallbackRequest::new('2', "+55 (61) 99999-0000");
        assert_eq!(r.digit(t, '5'), None, "other keys are not the callback key");
        let p = played(r.digit(t, '2'));
        assert_eq!(p[0], NUMBER_IS);
        assert_eq!(p[1], "pt-BR/digits/5");
        assert_eq!(p.len(), 2 + 13, "every digit of the A-number");
        assert_eq!(p.last().map(String::as_str), Some(CONFIRM));
        assert!(r.is_active());
        assert_eq!(r.digit(t, '1'), Some(Step::Request { number: None }));
    }

    #[test]
    fn another_number_is_typed_ended_by_hash_and_confirmed() {
        let t = Instant::now();
        let mut r = CallbackRequest::new('2', "6133330000");
        r.digit(t, '2');
        assert_eq!(played(r.digit(t, '2')), vec![TYPE_NUMBER.to_owned()]);
        for d in "11987654321".chars() {
            assert_eq!(r.digit(t, d), None);
        }
        let p = played(r.digit(t, '#'));
        assert!(p.contains(&"pt-BR/digits/9".to_owned()));
        assert_eq!(
            r.digit(t, '1'),
            Some(Step::Request {
                number: Some("11987654321".into())
            })
        );
    }

    #[test]
    fn an_anonymous_caller_is_asked_for_a_number_and_a_pause_ends_it() {
        let t = Instant::now();
        let mut r = CallbackRequest::new('9', "");
        assert_eq!(played(r.digit(t, '9')), vec![TYPE_NUMBER.to_owned()]);
        r.prompt_finished(t);
        for d in "6133330000".chars() {
            r.digit(t, d);
        }
        assert_eq!(r.handle_timeout(t + Duration::from_secs(4)), None);
        let p = played(r.handle_timeout(t + INTER_DIGIT));
        assert_eq!(p[0], NUMBER_IS);
    }

    #[test]
    fn too_short_numbers_are_refused_then_the_caller_waits_again() {
        let t = Instant::now();
        let mut r = CallbackRequest::new('2', "");
        r.digit(t, '2');
        r.digit(t, '1');
        assert_eq!(played(r.digit(t, '#')), vec![INVALID, TYPE_NUMBER]);
        r.digit(t, '#');
        assert_eq!(r.digit(t, '#'), Some(Step::ResumeWaiting));
        assert!(!r.is_active());
    }

    #[test]
    fn silence_repeats_the_question_then_gives_up() {
        let t = Instant::now();
        let mut r = CallbackRequest::new('2', "6133330000");
        r.digit(t, '2');
        assert_eq!(
            r.next_timeout(),
            None,
            "the timer starts when the prompt ends"
        );
        r.prompt_finished(t);
        let p = played(r.handle_timeout(t + CHOICE_TIMEOUT));
        assert_eq!(p[0], NUMBER_IS);
        r.prompt_finished(t);
        played(r.handle_timeout(t + CHOICE_TIMEOUT));
        r.prompt_finished(t);
        assert_eq!(
            r.handle_timeout(t + CHOICE_TIMEOUT),
            Some(Step::ResumeWaiting)
        );
    }

    #[test]
    fn star_goes_back_to_waiting_and_a_refusal_is_told() {
        let t = Instant::now();
        let mut r = CallbackRequest::new('2', "6133330000");
        r.digit(t, '2');
        assert_eq!(r.digit(t, '*'), Some(Step::ResumeWaiting));
        r.digit(t, '2');
        r.digit(t, '1');
        assert_eq!(r.refused(), Step::Play(vec![UNAVAILABLE.to_owned()]));
        assert!(!r.is_active());
        assert!(played(Some(r.offer())).starts_with(&[OFFER.to_owned()]));
    }

    #[test]
    fn the_registration_reads_the_protocol() {
        let p = CallbackRequest::registered("20261201-000042");
        assert_eq!(p[0], REGISTERED);
        assert_eq!(p.len(), 2 + 14);
    }
}
