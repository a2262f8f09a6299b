//! Hot-desking: which phone an agent logged in from with `*45`, so the agent's calls ring
//! that phone and the phone's `*46`/`*47`/`*48` act on that agent — settings follow the
//! agent, not the phone.
//!
//! Read-mostly shared state behind one std `Mutex`, held only to read or change the map,
//! never across an `.await`. An agent without a seat is at their own account's phones
//! (auto-login, CTI). Kept across restarts: every change hands the whole map, as JSON, to
//! a saver (`keep_in`; a setting in the database), and start-up `restore`s it, as the
//! ACD restores the logins.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, OnceLock};

use tokio::sync::watch;

#[derive(Debug, Default)]
pub struct HotDesk {
    /// Agent id → the phone account (registrar AOR) they logged in from.
    seats: Mutex<HashMap<String, String>>,
    /// Takes the seats as JSON after each change (none: not kept).
    saver: OnceLock<watch::Sender<String>>,
}

impl HotDesk {
    fn seats(&self) -> MutexGuard<'_, HashMap<String, String>> {
        match self.seats.lock() {
            Ok(g) => g,
            // A panic mid-update leaves a whole map (one insert/remove at a time).
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// `agent` now works at `phone`; whoever sat there before is unseated (one agent per
    /// phone), and the agent leaves any other phone.
    pub fn sit(&self, agent: &str, phone: &str) {
        let mut seats = self.seats();
        seats.retain(|a, p| a != agent && p != phone);
        seats.insert(agent.to_owned(), phone.to_owned());
        self.save(&seats);
    }

    /// The agent leaves their seat (logout).
    pub fn leave(&self, agent: &str) {
        let mut seats = self.seats();
        if seats.remove(agent).is_some() {
            self.save(&seats);
        }
    }

    /// From now on every change goes to `saver` (set once, at start-up).
    pub fn keep_in(&self, saver: watch::Sender<String>) {
        let _ = self.saver.set(saver);
    }

    /// Takes back the seats saved before a restart (the JSON `keep_in` received); the
    /// number of seats, or why the JSON was refused.
    pub fn restore(&self, json: &str) -> Result<usize, serde_json::Error> {
        let saved: BTreeMap<String, String> = serde_json::from_str(json)?;
        let mut seats = self.seats();
        seats.extend(saved);
        Ok(seats.len())
    }

    fn save(&self, seats: &HashMap<String, String>) {
        if let Some(saver) = self.saver.get() {
            let sorted: BTreeMap<&String, &String> = seats.iter().collect();
            let _ = saver.send(serde_json::to_string(&sorted).unwrap_or_default());
        }
    }

    /// The phone account whose registered contacts ring for `agent`.
    pub fn phone_of(&self, agent: &str) -> String {
        self.seats()
            .get(agent)
            .cloned()
            .unwrap_or_else(|| agent.to_owned())
    }

    /// The agent working at `phone`: whoever logged in there, else the phone's own account.
    pub fn agent_at(&self, phone: &str) -> String {
        self.seats()
            .iter()
            .find(|(_, p)| *p == phone)
            .map(|(a, _)| a.clone())
            .unwrap_or_else(|| phone.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_follows_the_phone_they_log_in_from() {
        let d = HotDesk::default();
        assert_eq!(d.phone_of("1001"), "1001", "unseated: their own phone");
        d.sit("1001", "1002");
        assert_eq!(d.phone_of("1001"), "1002");
        assert_eq!(d.agent_at("1002"), "1001");
        assert_eq!(
            d.agent_at("1001"),
            "1001",
            "1001's own phone is nobody's seat"
        );
        // 1003 takes the same phone: 1001 is unseated.
        d.sit("1003", "1002");
        assert_eq!(d.phone_of("1001"), "1001");
        assert_eq!(d.agent_at("1002"), "1003");
        // 1003 moves to another phone: one seat per agent.
        d.sit("1003", "1004");
        assert_eq!(d.agent_at("1002"), "1002");
        d.leave("1003");
        assert_eq!(d.phone_of("1003"), "1003");
    }

    #[test]
    fn seats_saved_come_back_in_a_new_desk() {
        let d = HotDesk::default();
        let (tx, rx) = watch::channel(String::new());
        d.keep_in(tx);
        d.sit("1001", "1002");
        d.sit("1003", "1004");
        d.leave("1003");
        let saved = rx.borrow().clone();
        assert_eq!(saved, r#"{"1001":"1002"}"#);
        let after = HotDesk::default();
        assert_eq!(after.restore(&saved).expect("valid"), 1);
        assert_eq!(after.phone_of("1001"), "1002");
        assert!(after.restore("not json").is_err());
    }
}
