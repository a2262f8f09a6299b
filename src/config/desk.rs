//! What operators pick and register on the agent desktop: pause reasons
//! (`[acd] pause_reasons`), dispositions (`[[dispositions]]`), the registration window and
//! note length, the screen-pop history length; and the checks of those settings and of
//! each queue's `screen_pop_fields` / `screen_pop_url`. Pure data and rules.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{AcdSettings, Config, Invalid};
use crate::acd::config::SYSTEM_PAUSE_REASONS;

/// A pause an agent may pick: `code` goes into the agent log and the ACD, `label`
/// (pt-BR) is what the desktop shows; `productive` pauses (training, feedback) are work
/// time, the others away (`GET /api/pause_reasons` carries it to figures and reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseReason {
    pub code: String,
    pub label: String,
    #[serde(default)]
    pub productive: bool,
}

/// What a call was about, as the agent registers it (the IAR KPI counts calls with one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    pub code: String,
    pub label: String,
    /// The queues whose calls it applies to; empty = every queue.
    #[serde(default)]
    pub queues: Vec<String>,
}

impl Disposition {
    /// Applies to a call of `queue` (`None`: a call that never went through a queue).
    pub fn applies_to(&self, queue: Option<&str>) -> bool {
        self.queues.is_empty() || queue.is_some_and(|q| self.queues.iter().any(|x| x == q))
    }
}

pub(super) fn default_registration_window() -> u64 {
    3600
}
pub(super) fn default_note_max_chars() -> usize {
    1000
}
pub(super) fn default_history() -> usize {
    5
}

/// The reasons offered when the config lists none (the codes are the engine's defaults).
fn default_pause_reasons() -> Vec<PauseReason> {
    [
        ("break", "Intervalo", false),
        ("lunch", "Lanche", false),
        ("training", "Treinamento", true),
        ("feedback", "Feedback", true),
        ("personal", "Particular", false),
    ]
    .into_iter()
    .map(|(code, label, productive)| PauseReason {
        code: code.into(),
        label: label.into(),
        productive,
    })
    .collect()
}

impl AcdSettings {
    /// The configured pause reasons, or the defaults, in order (`*47<n>` counts in it).
    pub fn pause_reasons(&self) -> Vec<PauseReason> {
        self.pause_reasons
            .clone()
            .unwrap_or_else(default_pause_reasons)
    }
}

/// The names a queue's `screen_pop_url` may use besides its `screen_pop_fields`.
pub const SCREEN_POP_BUILTINS: [&str; 5] = ["protocol", "caller", "did", "queue", "waited_ms"];

fn code_ok(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 40
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Config {
    /// Pause reasons, dispositions and the queues' screen-pop settings.
    pub(super) fn check_desk(&self) -> Result<(), Invalid> {
        let mut seen = HashSet::new();
        for r in self.acd.pause_reasons() {
            let why = if !code_ok(&r.code) {
                Some("code must be 1-40 of a-z, 0-9, _ or -")
            } else if SYSTEM_PAUSE_REASONS.contains(&r.code.as_str()) || r.code == "login" {
                Some("this reason is set by atende itself, not picked by agents")
            } else if r.label.trim().is_empty() {
                Some("label may not be empty")
            } else if !seen.insert(r.code.clone()) {
                Some("listed twice")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Invalid::PauseReason { code: r.code, why });
            }
        }
        if self.acd.note_max_chars == 0 || self.acd.note_max_chars > 10_000 {
            return Err(Invalid::NoteLength(self.acd.note_max_chars));
        }
        let queues: HashSet<&str> = self.queues.iter().map(|q| q.id.as_str()).collect();
        let mut seen = HashSet::new();
        for d in &self.dispositions {
            let why = if !code_ok(&d.code) {
                Some("code must be 1-40 of a-z, 0-9, _ or -".to_owned())
            } else if d.label.trim().is_empty() {
                Some("label may not be empty".to_owned())
            } else if !seen.insert(d.code.as_str()) {
                Some("listed twice".to_owned())
            } else {
                d.queues
                    .iter()
                    .find(|q| !queues.contains(q.as_str()))
                    .map(|q| format!("names unknown queue {q:?}"))
            };
            if let Some(why) = why {
                return Err(Invalid::Disposition {
                    code: d.code.clone(),
                    why,
                });
            }
        }
        for q in &self.queues {
            let fail = |why: String| Invalid::ScreenPop {
                queue: q.id.to_string(),
                why,
            };
            if let Some(f) = q
                .screen_pop_fields
                .iter()
                .find(|f| f.is_empty() || SCREEN_POP_BUILTINS.contains(&f.as_str()))
            {
                return Err(fail(format!(
                    "screen_pop_fields: {f:?} is empty or always shown"
                )));
            }
            let Some(url) = &q.screen_pop_url else {
                continue;
            };
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(fail(
                    "screen_pop_url must start with https:// or http://".into(),
                ));
            }
            let known = |n: &str| {
                SCREEN_POP_BUILTINS.contains(&n) || q.screen_pop_fields.iter().any(|f| f == n)
            };
            if let Some(n) = crate::template::referenced(url)
                .into_iter()
                .find(|n| !known(n))
            {
                return Err(fail(format!(
                    "screen_pop_url uses ${{{n}}}, which is neither one of {SCREEN_POP_BUILTINS:?} nor in screen_pop_fields"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/atende.toml");

    fn with(extra: &str) -> Result<Config, crate::config::ConfigError> {
        // The demo config with its [acd] table replaced by `extra`'s settings.
        let base = DEMO.replace("[acd]\n", "[acd_demo_replaced]\n");
        let base = strip_table(&base, "[acd_demo_replaced]");
        Config::parse(&format!("{base}\n{extra}"))
    }

    /// Removes a table (its header up to the next header) from TOML text.
    fn strip_table(text: &str, header: &str) -> String {
        let mut out = String::new();
        let mut skipping = false;
        for line in text.lines() {
            if line.starts_with('[') {
                skipping = line.trim() == header;
            }
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    #[test]
    fn the_demo_lists_pt_br_reasons_and_dispositions() {
        let c = Config::parse(DEMO).expect("demo");
        let reasons = c.acd.pause_reasons();
        assert!(reasons.iter().any(|r| r.code == "lanche" && !r.productive));
        assert!(
            reasons
                .iter()
                .any(|r| r.code == "treinamento" && r.productive)
        );
        assert_eq!(
            c.engine_config().pause_reasons,
            reasons.iter().map(|r| r.code.clone()).collect::<Vec<_>>()
        );
        assert!(c.dispositions.len() >= 3);
        assert!(c.queues.iter().any(|q| q.screen_pop_url.is_some()));
    }

    #[test]
    fn bad_reasons_and_dispositions_are_refused_by_name() {
        let refused = |extra: &str| match with(extra) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted: {extra}"),
        };
        let e = refused("[acd]\npause_reasons = [{ code = \"disconnected\", label = \"Caiu\" }]");
        assert!(
            e.contains("\"disconnected\"") && e.contains("atende itself"),
            "{e}"
        );
        let e = refused(
            "[acd]\npause_reasons = [{ code = \"a\", label = \"A\" }, { code = \"a\", label = \"B\" }]",
        );
        assert!(e.contains("twice"), "{e}");
        let e = refused("[acd]\npause_reasons = [{ code = \"Lanche Longo\", label = \"x\" }]");
        assert!(e.contains("a-z"), "{e}");
        let e = refused("[acd]\nnote_max_chars = 0");
        assert!(e.contains("note_max_chars"), "{e}");
        let e = refused(
            "[acd]\n[[dispositions]]\ncode = \"info\"\nlabel = \"Informação\"\nqueues = [\"nenhuma\"]",
        );
        assert!(e.contains("\"info\"") && e.contains("nenhuma"), "{e}");
        // Unknown keys are refused, not ignored.
        let e = refused("[acd]\npause_reasons = [{ code = \"a\", label = \"A\", paid = true }]");
        assert!(e.contains("paid"), "{e}");
    }

    #[test]
    fn screen_pop_urls_may_only_use_known_fields() {
        let mut c = Config::parse(DEMO).expect("demo");
        c.queues[0].screen_pop_fields = vec!["cpf".into()];
        c.queues[0].screen_pop_url = Some("https://x.example/a?c=${cpf}&p=${protocol}".into());
        c.check().expect("known fields");
        c.queues[0].screen_pop_url = Some("https://x.example/a?n=${nome}".into());
        let e = c.check().expect_err("unknown field").to_string();
        assert!(
            e.contains("${nome}") && e.contains("screen_pop_fields"),
            "{e}"
        );
        c.queues[0].screen_pop_url = Some("javascript:alert(1)".into());
        let e = c.check().expect_err("scheme").to_string();
        assert!(e.contains("https://"), "{e}");
    }

    #[test]
    fn dispositions_apply_to_their_queues() {
        let d = Disposition {
            code: "pericia".into(),
            label: "Perícia".into(),
            queues: vec!["pericia".into()],
        };
        assert!(d.applies_to(Some("pericia")));
        assert!(!d.applies_to(Some("geral")));
        assert!(!d.applies_to(None));
        let any = Disposition {
            queues: vec![],
            ..d
        };
        assert!(any.applies_to(None));
    }
}
