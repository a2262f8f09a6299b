//! The emergency announcement switch: when on, every new call hears this prompt first,
//! before its flow starts. Flipped over the API; read once per call at its start, so it
//! takes effect on the next call without a restart and never cuts into a call in progress.

use std::sync::RwLock;

#[derive(Debug, Default)]
pub struct Announcements {
    emergency: RwLock<Option<String>>,
}

impl Announcements {
    pub fn new() -> Announcements {
        Announcements::default()
    }

    /// The prompt (library name, e.g. "pt-BR/aviso-emergencia") new calls must hear first.
    pub fn emergency(&self) -> Option<String> {
        match self.emergency.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Turns the announcement on (`Some(prompt)`) or off (`None`).
    pub fn set_emergency(&self, prompt: Option<String>) {
        let mut g = match self.emergency.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = prompt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_turns_on_and_off() {
        let a = Announcements::new();
        assert_eq!(a.emergency(), None);
        a.set_emergency(Some("pt-BR/aviso".into()));
        assert_eq!(a.emergency().as_deref(), Some("pt-BR/aviso"));
        a.set_emergency(None);
        assert_eq!(a.emergency(), None);
    }
}
