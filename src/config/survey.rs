//! The `[surveys.NAME]` sections of the config file and their rules.
//!
//! A survey is a list of questions, each a prompt the caller answers with one key (1–5 by
//! default), with retries on silence and on an invalid key, an optional introduction and
//! a thank-you prompt. The survey names the queues and services whose calls get it (a
//! queue's survey wins over its service's). Checked with the rest of the config at start,
//! at reload and by `atende check-config` (`check`); that its prompts are in the library
//! is checked with the other prompts (`reload::checks`). Pure: no files. The interview
//! that runs a survey is `crate::survey`.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// The keys a question takes when it names none.
pub const DEFAULT_KEYS: &str = "12345";
/// Most questions in one survey: a caller does not stay on the line for more.
pub const MAX_QUESTIONS: usize = 10;
/// Most retries per question.
pub const MAX_RETRIES: u32 = 5;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyConfig {
    /// Queues whose answered calls go to this survey when the agent's part ends.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Services whose calls go to it (calls of an IVR service: unless their queue names
    /// another survey).
    #[serde(default)]
    pub services: Vec<String>,
    /// Played once before the first question (keys pressed during it are ignored).
    #[serde(default)]
    pub intro_prompt: Option<String>,
    /// Played after the last question, before atende hangs up.
    #[serde(default)]
    pub thanks_prompt: Option<String>,
    /// Played before the question again after a key it does not take.
    pub invalid_prompt: String,
    /// Played before the question again after silence.
    pub timeout_prompt: String,
    /// How long to wait for a key after a question's prompt ended.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How many times a question is asked again after silence or an invalid key before
    /// it is recorded as not answered.
    #[serde(default = "default_retries")]
    pub retries: u32,
    pub questions: Vec<QuestionConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionConfig {
    /// The question's name in the call log and reports (a-z, 0-9, _ or -).
    pub id: String,
    pub prompt: String,
    /// The keys that answer it, each 1–5 (the score is the key). Default "12345".
    #[serde(default = "default_keys")]
    pub keys: String,
    /// Whether the answers count for the ISA KPI (a question about the institute's own
    /// service, not the operator, may not).
    #[serde(default = "default_isa")]
    pub isa: bool,
}

fn default_timeout() -> u64 {
    5
}
fn default_retries() -> u32 {
    1
}
fn default_keys() -> String {
    DEFAULT_KEYS.into()
}
fn default_isa() -> bool {
    true
}

/// Why a survey definition is refused; the message names the survey and the setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("surveys.{survey}: {problem}")]
pub struct SurveyProblem {
    pub survey: String,
    pub problem: String,
}

impl SurveyConfig {
    /// Every prompt the survey may play, for the prompt library check.
    pub fn prompts(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .intro_prompt
            .iter()
            .chain(&self.thanks_prompt)
            .chain([&self.invalid_prompt, &self.timeout_prompt])
            .map(String::as_str)
            .collect();
        v.extend(self.questions.iter().map(|q| q.prompt.as_str()));
        v
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs)
    }
}

impl QuestionConfig {
    /// The score `key` gives, when the question takes it.
    pub fn score(&self, key: char) -> Option<u8> {
        if !self.keys.contains(key) {
            return None;
        }
        key.to_digit(10)
            .and_then(|d| u8::try_from(d).ok())
            .filter(|d| (1..=5).contains(d))
    }
}

/// A name stored in call logs and reports: a-z, 0-9, _ or -, 1 to 32 characters.
fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks every survey against the queues and services the config has; the first
/// problem found is returned.
pub fn check<'a>(
    surveys: &BTreeMap<String, SurveyConfig>,
    queues: impl IntoIterator<Item = &'a str>,
    services: impl IntoIterator<Item = &'a str>,
) -> Result<(), SurveyProblem> {
    let queues: Vec<&str> = queues.into_iter().collect();
    let services: Vec<&str> = services.into_iter().collect();
    let mut taken: HashMap<String, &str> = HashMap::new();
    for (name, s) in surveys {
        let fail = |problem: String| SurveyProblem {
            survey: name.clone(),
            problem,
        };
        if !is_code(name) {
            return Err(fail(
                "the survey's name must be 1 to 32 of a-z, 0-9, _ or -".into(),
            ));
        }
        if s.queues.is_empty() && s.services.is_empty() {
            return Err(fail(
                "names no queue and no service: no call would get it (add queues = [...] or services = [...])".into(),
            ));
        }
        for q in &s.queues {
            if !queues.contains(&q.as_str()) {
                return Err(fail(format!("queues: unknown queue {q:?}")));
            }
            if let Some(other) = taken.insert(format!("queue {q:?}"), name) {
                return Err(fail(format!(
                    "queue {q:?} already has survey {other:?} (one survey per queue)"
                )));
            }
        }
        for v in &s.services {
            if !services.contains(&v.as_str()) {
                return Err(fail(format!("services: unknown service {v:?}")));
            }
            if let Some(other) = taken.insert(format!("service {v:?}"), name) {
                return Err(fail(format!(
                    "service {v:?} already has survey {other:?} (one survey per service)"
                )));
            }
        }
        if !(1..=60).contains(&s.timeout_secs) {
            return Err(fail(format!(
                "timeout_secs must be 1 to 60 (got {})",
                s.timeout_secs
            )));
        }
        if s.retries > MAX_RETRIES {
            return Err(fail(format!(
                "retries must be 0 to {MAX_RETRIES} (got {})",
                s.retries
            )));
        }
        if s.questions.is_empty() || s.questions.len() > MAX_QUESTIONS {
            return Err(fail(format!(
                "questions: give 1 to {MAX_QUESTIONS} questions (got {})",
                s.questions.len()
            )));
        }
        if s.prompts().iter().any(|p| p.trim().is_empty()) {
            return Err(fail("a prompt name is empty".into()));
        }
        let mut ids = Vec::new();
        for q in &s.questions {
            if !is_code(&q.id) {
                return Err(fail(format!(
                    "question {:?}: id must be 1 to 32 of a-z, 0-9, _ or -",
                    q.id
                )));
            }
            if ids.contains(&q.id.as_str()) {
                return Err(fail(format!("question {:?} appears twice", q.id)));
            }
            ids.push(&q.id);
            let mut seen = Vec::new();
            for k in q.keys.chars() {
                if !('1'..='5').contains(&k) || seen.contains(&k) {
                    return Err(fail(format!(
                        "question {:?}: keys {:?} must be distinct keys 1 to 5 (the key is the score)",
                        q.id, q.keys
                    )));
                }
                seen.push(k);
            }
            if seen.is_empty() {
                return Err(fail(format!("question {:?}: keys is empty", q.id)));
            }
        }
    }
    Ok(())
}

/// The survey for a call answered from `queue` (if any) of `service`: the queue's own,
/// else the service's.
pub fn survey_for<'a>(
    surveys: &'a BTreeMap<String, SurveyConfig>,
    queue: Option<&str>,
    service: &str,
) -> Option<(&'a str, &'a SurveyConfig)> {
    let by_queue = queue.and_then(|q| {
        surveys
            .iter()
            .find(|(_, s)| s.queues.iter().any(|x| x == q))
    });
    by_queue
        .or_else(|| {
            surveys
                .iter()
                .find(|(_, s)| s.services.iter().any(|x| x == service))
        })
        .map(|(n, s)| (n.as_str(), s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BTreeMap<String, SurveyConfig> {
        #[derive(Deserialize)]
        struct W {
            surveys: BTreeMap<String, SurveyConfig>,
        }
        toml::from_str::<W>(text).expect("valid TOML").surveys
    }

    const GOOD: &str = r#"
[surveys.atendimento]
queues = ["geral"]
services = ["demo"]
invalid_prompt = "pt-BR/pesquisa/opcao-invalida"
timeout_prompt = "pt-BR/pesquisa/nao-ouvi"
thanks_prompt = "pt-BR/pesquisa/obrigado"
questions = [
    { id = "atendente", prompt = "pt-BR/pesquisa/atendente" },
    { id = "instituto", prompt = "pt-BR/pesquisa/instituto", isa = false, keys = "123" },
]
"#;

    fn checked(text: &str) -> Result<(), String> {
        check(&parse(text), ["geral", "pericia"], ["ura", "demo"]).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_survey_passes_with_its_defaults() {
        checked(GOOD).unwrap();
        let s = &parse(GOOD)["atendimento"];
        assert_eq!((s.timeout_secs, s.retries), (5, 1));
        assert!(s.questions[0].isa && !s.questions[1].isa);
        assert_eq!(s.questions[0].score('5'), Some(5));
        assert_eq!(s.questions[1].score('4'), None);
        assert_eq!(s.questions[1].score('#'), None);
    }

    #[test]
    fn broken_surveys_are_refused_naming_the_setting() {
        let cases = [
            (
                GOOD.replace("\"geral\"", "\"nenhuma\""),
                "unknown queue \"nenhuma\"",
            ),
            (GOOD.replace("\"demo\"", "\"x\""), "unknown service \"x\""),
            (
                GOOD.replace("keys = \"123\"", "keys = \"126\""),
                "keys \"126\"",
            ),
            (
                GOOD.replace("keys = \"123\"", "keys = \"11\""),
                "keys \"11\"",
            ),
            (
                GOOD.replace("id = \"instituto\"", "id = \"atendente\""),
                "appears twice",
            ),
            (
                GOOD.replace("id = \"instituto\"", "id = \"Instituto\""),
                "id must be",
            ),
            (
                GOOD.replace("thanks_prompt", "timeout_secs = 0\nthanks_prompt"),
                "timeout_secs",
            ),
            (
                GOOD.replace("thanks_prompt", "retries = 9\nthanks_prompt"),
                "retries",
            ),
            (
                GOOD.replace("queues = [\"geral\"]\nservices = [\"demo\"]", ""),
                "names no queue",
            ),
        ];
        for (text, expected) in cases {
            let err = checked(&text).unwrap_err();
            assert!(err.contains(expected), "{err} lacks {expected}");
            assert!(err.starts_with("surveys.atendimento: "), "{err}");
        }
        let two = format!("{GOOD}\n{}", GOOD.replace("atendimento", "outra"));
        let err = checked(&two).unwrap_err();
        assert!(err.contains("already has survey"), "{err}");
        let empty = GOOD
            .split("questions")
            .next()
            .map(|h| format!("{h}questions = []"))
            .unwrap_or_default();
        assert!(checked(&empty).unwrap_err().contains("1 to 10 questions"));
    }

    #[test]
    fn a_queue_survey_wins_over_its_service() {
        let text = format!(
            "{GOOD}\n{}",
            GOOD.replace("atendimento", "geral").replace(
                "queues = [\"geral\"]\nservices = [\"demo\"]",
                "services = [\"ura\"]"
            )
        );
        let surveys = parse(&text);
        assert_eq!(
            survey_for(&surveys, Some("geral"), "ura").map(|s| s.0),
            Some("atendimento")
        );
        assert_eq!(
            survey_for(&surveys, Some("pericia"), "ura").map(|s| s.0),
            Some("geral")
        );
        assert_eq!(survey_for(&surveys, None, "outro").map(|s| s.0), None);
    }
}
