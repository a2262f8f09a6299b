//! Registering a call: the agent who answered it says what it was about, with a
//! configured disposition code and a free-text note. The decision whether a registration
//! is accepted is pure (`check`); the store appends the accepted one to the call's event
//! log as `EventKind::Registered` (`store::registration`), and the API and the CTI only
//! gather the facts and pass them in.
//!
//! Rules: only the agent who answered the call; while it lasts, during that agent's
//! wrap-up for it, and afterwards for `[acd] registration_window_secs`; a code from
//! `[[dispositions]]` that applies to the call's queue; a note of at most
//! `[acd] note_max_chars` characters without control characters (line breaks and tabs
//! excepted) or bidirectional overrides (they make a stored note read differently).

use crate::config::Disposition;
use crate::events::EventKind;

/// What an agent asks to store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Registration {
    pub code: String,
    #[serde(default)]
    pub note: String,
}

/// What the call log says about the call being registered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// The agent who answered; `None` if no agent did.
    pub answered_by: Option<String>,
    /// The ACD queue it was answered from; `None` for a call that rang agents directly.
    pub queue: Option<String>,
    /// `None` while the call lasts.
    pub ended_at_ms: Option<i64>,
    /// The agent is in wrap-up after this very call.
    pub in_wrap_up: bool,
}

/// The limits from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub window_ms: i64,
    pub note_max_chars: usize,
}

impl Limits {
    /// `[acd] registration_window_secs` and `note_max_chars`.
    pub fn from_config(acd: &crate::config::AcdSettings) -> Limits {
        Limits {
            window_ms: i64::try_from(acd.registration_window_secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
            note_max_chars: acd.note_max_chars,
        }
    }
}

/// Why a registration was refused; the message is what the agent's screen shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("código de registro desconhecido")]
    UnknownCode,
    #[error("este código não se aplica à fila desta chamada")]
    NotForThisQueue,
    #[error("a observação passa de {max} caracteres")]
    NoteTooLong { max: usize },
    #[error("a observação contém caracteres de controle")]
    ControlCharacter,
    #[error("a chamada não foi atendida por este agente")]
    NotYourCall,
    #[error("o prazo para registrar esta chamada terminou")]
    WindowClosed,
}

impl Refused {
    /// The CTI protocol's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::NotYourCall => "not_allowed",
            Refused::WindowClosed => "invalid_state",
            _ => "bad_args",
        }
    }
}

/// The event to append if `agent` may register the call as `r` at `now_ms`.
pub fn check(
    agent: &str,
    r: &Registration,
    call: &CallFacts,
    dispositions: &[Disposition],
    limits: Limits,
    now_ms: i64,
) -> Result<EventKind, Refused> {
    if call.answered_by.as_deref() != Some(agent) {
        return Err(Refused::NotYourCall);
    }
    let open = match call.ended_at_ms {
        None => true,
        Some(_) if call.in_wrap_up => true,
        Some(end) => now_ms.saturating_sub(end) <= limits.window_ms,
    };
    if !open {
        return Err(Refused::WindowClosed);
    }
    let d = dispositions
        .iter()
        .find(|d| d.code == r.code)
        .ok_or(Refused::UnknownCode)?;
    if !d.applies_to(call.queue.as_deref()) {
        return Err(Refused::NotForThisQueue);
    }
    let note = clean_note(&r.note, limits.note_max_chars)?;
    Ok(EventKind::Registered {
        agent: agent.to_owned(),
        code: d.code.clone(),
        note,
    })
}

/// The note as stored: browsers' CRLF made LF, surrounding blanks trimmed, then checked.
fn clean_note(note: &str, max: usize) -> Result<String, Refused> {
    let note = note.replace("\r\n", "\n");
    let note = note.trim();
    if note.chars().count() > max {
        return Err(Refused::NoteTooLong { max });
    }
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if note
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || bidi(c))
    {
        return Err(Refused::ControlCharacter);
    }
    Ok(note.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispositions() -> Vec<Disposition> {
        vec![
            Disposition {
                code: "informacao".into(),
                label: "Informação".into(),
                queues: vec![],
            },
            Disposition {
                code: "agendamento".into(),
                label: "Perícia agendada".into(),
                queues: vec!["pericia".into()],
            },
        ]
    }

    const LIMITS: Limits = Limits {
        window_ms: 3_600_000,
        note_max_chars: 20,
    };

    fn ended_at(end: i64) -> CallFacts {
        CallFacts {
            answered_by: Some("1001".into()),
            queue: Some("geral".into()),
            ended_at_ms: Some(end),
            in_wrap_up: false,
        }
    }

    fn reg(code: &str, note: &str) -> Registration {
        Registration {
            code: code.into(),
            note: note.into(),
        }
    }

    fn run(agent: &str, r: Registration, call: &CallFacts, now: i64) -> Result<EventKind, Refused> {
        check(agent, &r, call, &dispositions(), LIMITS, now)
    }

    #[test]
    fn the_answering_agent_registers_during_and_after_the_call() {
        let live = CallFacts {
            ended_at_ms: None,
            ..ended_at(0)
        };
        assert_eq!(
            run("1001", reg("informacao", "  2ª via\r\nok "), &live, 5),
            Ok(EventKind::Registered {
                agent: "1001".into(),
                code: "informacao".into(),
                note: "2ª via\nok".into(),
            })
        );
        assert!(run("1001", reg("informacao", ""), &ended_at(0), 3_600_000).is_ok());
        assert_eq!(
            run("1001", reg("informacao", ""), &ended_at(0), 3_600_001),
            Err(Refused::WindowClosed)
        );
        // Wrap-up after this call keeps it open however long it lasts.
        let wrap = CallFacts {
            in_wrap_up: true,
            ..ended_at(0)
        };
        assert!(run("1001", reg("informacao", ""), &wrap, 9_000_000).is_ok());
    }

    #[test]
    fn others_codes_and_notes_are_refused() {
        let call = ended_at(0);
        assert_eq!(
            run("1002", reg("informacao", ""), &call, 1),
            Err(Refused::NotYourCall)
        );
        let unanswered = CallFacts {
            answered_by: None,
            ..ended_at(0)
        };
        assert_eq!(
            run("1001", reg("informacao", ""), &unanswered, 1),
            Err(Refused::NotYourCall)
        );
        assert_eq!(
            run("1001", reg("nada", ""), &call, 1),
            Err(Refused::UnknownCode)
        );
        assert_eq!(
            run("1001", reg("agendamento", ""), &call, 1),
            Err(Refused::NotForThisQueue)
        );
        let pericia = CallFacts {
            queue: Some("pericia".into()),
            ..ended_at(0)
        };
        assert!(run("1001", reg("agendamento", ""), &pericia, 1).is_ok());
        assert_eq!(
            run("1001", reg("informacao", &"é".repeat(21)), &call, 1),
            Err(Refused::NoteTooLong { max: 20 })
        );
        assert!(run("1001", reg("informacao", &"é".repeat(20)), &call, 1).is_ok());
        for bad in [
            "a\u{0}b",
            "a\u{1b}[31mb",
            "a\rb",
            "abc\u{202E}cba",
            "x\u{85}y",
        ] {
            assert_eq!(
                run("1001", reg("informacao", bad), &call, 1),
                Err(Refused::ControlCharacter),
                "{bad:?}"
            );
        }
        assert!(run("1001", reg("informacao", "linha 1\n\tlinha 2"), &call, 1).is_ok());
        assert_eq!(Refused::NotYourCall.code(), "not_allowed");
        assert_eq!(Refused::UnknownCode.code(), "bad_args");
    }
}
