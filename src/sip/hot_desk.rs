//! Hot-desking: which phone an agent logged in from with `*45`, so the agent's calls ring
//! that phone and the phone's `*46`/`*47`/`*48` act on that agent — settings follow the
//! agent, not the phone.
//!
//! Read-mostly shared state behind one std `Mutex`, held only to read or change the map,
//! never across an `.await`. An agent without a seat is at their own account's phones
//! (auto-login, CTI). Lost at restart, as the ACD's logins are.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct HotDesk {
    /// Agent id → the phone account (registrar AOR) they logged in from.
    seats: Mutex<HashMap<String, String>>,
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
    }

    /// The agent leaves their seat (logout).
    pub fn leave(&self, agent: &str) {
        self.seats().remove(agent);
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
}
