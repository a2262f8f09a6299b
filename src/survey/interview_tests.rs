//! The interview on a hand-driven clock: what is played, what is logged, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::interview::{Action, Input, Interview};
use crate::config::survey::{QuestionConfig, SurveyConfig};
use crate::events::EventKind;

fn survey(intro: bool, thanks: bool, retries: u32) -> Arc<SurveyConfig> {
    Arc::new(SurveyConfig {
        queues: vec!["geral".into()],
        services: Vec::new(),
        intro_prompt: intro.then(|| "intro".into()),
        thanks_prompt: thanks.then(|| "obrigado".into()),
        invalid_prompt: "invalida".into(),
        timeout_prompt: "nao-ouvi".into(),
        timeout_secs: 5,
        retries,
        questions: vec![
            QuestionConfig {
                id: "atendente".into(),
                prompt: "q1".into(),
                keys: "12345".into(),
                isa: true,
            },
            QuestionConfig {
                id: "instituto".into(),
                prompt: "q2".into(),
                keys: "123".into(),
                isa: false,
            },
        ],
    })
}

struct Run {
    i: Interview,
    now: Instant,
}

impl Run {
    fn new(s: Arc<SurveyConfig>) -> Run {
        let mut r = Run {
            i: Interview::new("atendimento", s, Some("1001".into())),
            now: Instant::now(),
        };
        r.input(Input::Start);
        r
    }

    fn input(&mut self, input: Input) {
        self.i.handle(self.now, input);
    }

    fn wait(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.i.handle_timeout(self.now);
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.i.poll_action()).collect()
    }
}

fn play(names: &[&str]) -> Action {
    Action::Play(names.iter().map(|s| s.to_string()).collect())
}

fn answered(question: &str, score: Option<u8>, reason: Option<&str>) -> Action {
    Action::Log(EventKind::SurveyAnswered {
        survey: "atendimento".into(),
        question: question.into(),
        agent: Some("1001".into()),
        score,
        reason: reason.map(str::to_owned),
        isa: question == "atendente",
    })
}

#[test]
fn two_answers_then_thanks_then_finished() {
    let mut r = Run::new(survey(true, true, 1));
    assert_eq!(r.actions(), [play(&["intro"])]);
    r.input(Input::Digit('5')); // ignored during the introduction
    assert_eq!(r.actions(), []);
    r.input(Input::PromptFinished);
    assert_eq!(r.actions(), [play(&["q1"])]);
    r.input(Input::PromptFinished);
    assert!(r.i.next_timeout().is_some());
    r.input(Input::Digit('5'));
    assert_eq!(
        r.actions(),
        [answered("atendente", Some(5), None), play(&["q2"])]
    );
    r.input(Input::PromptFinished);
    r.input(Input::Digit('3'));
    assert_eq!(
        r.actions(),
        [answered("instituto", Some(3), None), play(&["obrigado"])]
    );
    r.input(Input::Digit('1')); // during the thank-you: nothing
    assert_eq!(r.actions(), []);
    r.input(Input::PromptFinished);
    assert_eq!(r.actions(), [Action::Finished]);
    assert!(r.i.is_over());
}

#[test]
fn a_key_while_the_question_plays_answers_it_and_stops_the_prompt() {
    let mut r = Run::new(survey(false, false, 1));
    assert_eq!(r.actions(), [play(&["q1"])]);
    r.input(Input::Digit('4'));
    assert_eq!(
        r.actions(),
        [
            Action::Stop,
            answered("atendente", Some(4), None),
            play(&["q2"])
        ]
    );
}

#[test]
fn silence_is_retried_then_recorded_as_no_answer() {
    let mut r = Run::new(survey(false, false, 1));
    r.actions();
    // No wait counted while the prompt plays.
    r.wait(30);
    assert_eq!(r.actions(), []);
    r.input(Input::PromptFinished);
    r.wait(4);
    assert_eq!(r.actions(), []);
    r.wait(1);
    assert_eq!(r.actions(), [play(&["nao-ouvi", "q1"])]);
    r.input(Input::PromptFinished);
    r.wait(5);
    assert_eq!(
        r.actions(),
        [answered("atendente", None, Some("timeout")), play(&["q2"])]
    );
    r.input(Input::PromptFinished);
    r.wait(5);
    r.input(Input::PromptFinished);
    r.wait(5);
    assert_eq!(
        r.actions(),
        [
            play(&["nao-ouvi", "q2"]),
            answered("instituto", None, Some("timeout")),
            Action::Finished
        ]
    );
}

#[test]
fn an_invalid_key_is_retried_and_a_valid_one_then_counts() {
    let mut r = Run::new(survey(false, false, 1));
    r.actions();
    r.input(Input::PromptFinished);
    r.input(Input::Digit('9'));
    assert_eq!(r.actions(), [play(&["invalida", "q1"])]);
    r.input(Input::PromptFinished);
    r.input(Input::Digit('4'));
    assert_eq!(
        r.actions(),
        [answered("atendente", Some(4), None), play(&["q2"])]
    );
    // Question 2 takes 1-3 only: 5 twice (retries = 1) is no answer, reason invalid.
    r.input(Input::Digit('5'));
    r.input(Input::Digit('5'));
    assert_eq!(
        r.actions(),
        [
            Action::Stop,
            play(&["invalida", "q2"]),
            Action::Stop,
            answered("instituto", None, Some("invalid")),
            Action::Finished
        ]
    );
}

#[test]
fn without_retries_the_first_miss_is_the_answer_and_the_last_miss_names_the_reason() {
    let mut r = Run::new(survey(false, false, 0));
    r.actions();
    r.input(Input::PromptFinished);
    r.wait(5);
    assert_eq!(
        r.actions(),
        [answered("atendente", None, Some("timeout")), play(&["q2"])]
    );
    let mut r = Run::new(survey(false, false, 2));
    r.actions();
    r.input(Input::PromptFinished);
    r.input(Input::Digit('0'));
    r.input(Input::PromptFinished);
    r.wait(5);
    r.input(Input::PromptFinished);
    r.wait(5);
    let a = r.actions();
    assert_eq!(a[a.len() - 2], answered("atendente", None, Some("timeout")));
}

#[test]
fn hanging_up_mid_question_records_it_and_nothing_after() {
    let mut r = Run::new(survey(false, true, 1));
    r.actions();
    r.input(Input::PromptFinished);
    r.input(Input::Digit('2'));
    r.actions();
    r.input(Input::HungUp);
    assert_eq!(r.actions(), [answered("instituto", None, Some("hung_up"))]);
    assert!(r.i.is_over() && r.i.next_timeout().is_none());
    r.input(Input::Digit('1'));
    r.input(Input::PromptFinished);
    r.wait(60);
    assert_eq!(r.actions(), []);
}

#[test]
fn hanging_up_during_the_introduction_or_thanks_invents_nothing() {
    let mut r = Run::new(survey(true, true, 1));
    r.actions();
    r.input(Input::HungUp);
    assert_eq!(r.actions(), []);
    let mut r = Run::new(survey(false, true, 1));
    r.input(Input::Digit('5'));
    r.input(Input::Digit('1'));
    r.actions();
    r.input(Input::HungUp);
    assert_eq!(r.actions(), []);
}

#[test]
fn a_stale_prompt_end_after_an_answer_does_not_start_the_wait_early() {
    let mut r = Run::new(survey(false, false, 1));
    r.actions();
    r.input(Input::Digit('5'));
    r.actions();
    // q2 plays; its end starts the wait, a timer before it does nothing.
    r.wait(10);
    assert_eq!(r.actions(), []);
    assert!(r.i.next_timeout().is_none());
}
