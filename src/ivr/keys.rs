//! Menus and digit collection: keys, first-digit and inter-digit timeouts, retries,
//! invalid entries, the last failure, and the read-back of a `collect`.
//!
//! Part of the interpreter (same state, same purity rules); kept apart because it is the
//! one place where a node's state changes over several inputs.
//!
//! ```text
//!  prompt ──key──▶ keys ──complete option──▶ target          (menu)
//!    │ finished      │ prefix of a longer option: inter-digit timer
//!    ▼               ▼ no such option / timer with no key
//!  first-digit ──▶ failure ──attempt ≤ retries──▶ invalid/timeout prompt + prompt again
//!  timer                    └─last attempt──▶ on_failure
//! ```

use std::time::Instant;

use super::cpf::is_valid_cpf;
use super::format::Validation;
use super::interp::{Interpreter, Wait};
use super::io::{Action, Failure, IvrEvent};
use super::model::{Collect, Menu, NodeKind};
use super::say;

impl Interpreter {
    fn menu_node(&self) -> Option<Menu> {
        match &self.set.node(self.pos).kind {
            NodeKind::Menu(m) => Some((**m).clone()),
            _ => None,
        }
    }

    fn collect_node(&self) -> Option<Collect> {
        match &self.set.node(self.pos).kind {
            NodeKind::Collect(c) => Some((**c).clone()),
            _ => None,
        }
    }

    /// (Re)starts a menu or collect attempt: `lead` (an invalid/timeout prompt) then the
    /// node's prompts. Keys typed ahead skip the prompt altogether.
    pub(super) fn prompt_for_keys(&mut self, now: Instant, lead: Vec<String>) {
        let (prompts, first_digit) = match &self.set.node(self.pos).kind {
            NodeKind::Menu(m) => (m.prompts.clone(), m.first_digit),
            NodeKind::Collect(c) => (c.prompts.clone(), c.first_digit),
            _ => return,
        };
        let playback = if self.typeahead.is_empty() {
            let all = lead.into_iter().chain(prompts).collect();
            Some(self.play(all, true))
        } else {
            self.timer = Some(now + first_digit);
            None
        };
        match &mut self.wait {
            Wait::Menu { playback: p, .. } | Wait::Collect { playback: p, .. } => *p = playback,
            _ => {}
        }
    }

    pub(super) fn keys_prompt_finished(&mut self, now: Instant) {
        let (first, inter) = match &self.set.node(self.pos).kind {
            NodeKind::Menu(m) => (m.first_digit, m.inter_digit),
            NodeKind::Collect(c) => (c.first_digit, c.inter_digit),
            _ => return,
        };
        let started = match &mut self.wait {
            Wait::Menu { playback, keys, .. } => {
                *playback = None;
                !keys.is_empty()
            }
            Wait::Collect {
                playback,
                digits,
                confirming,
                ..
            } => {
                *playback = None;
                !digits.is_empty() && !*confirming
            }
            _ => return,
        };
        self.timer = Some(now + if started { inter } else { first });
    }

    /// A key stops the prompt (menus and collects always allow barge-in).
    fn stop_prompt(&mut self) {
        let playing = match &mut self.wait {
            Wait::Menu { playback, .. } | Wait::Collect { playback, .. } => playback.take(),
            _ => None,
        };
        if let Some(p) = playing {
            self.emit(Action::StopPlayback(p));
            let node = self.node_name();
            self.log(IvrEvent::BargedIn { node });
        }
    }

    pub(super) fn menu_key(&mut self, now: Instant, d: char) {
        let Some(m) = self.menu_node() else { return };
        self.stop_prompt();
        let Wait::Menu { keys, .. } = &mut self.wait else {
            return;
        };
        keys.push(d);
        let keys = keys.clone();
        let exact = m.options.iter().find(|(k, _)| *k == keys).map(|(_, t)| *t);
        let longer = m
            .options
            .iter()
            .any(|(k, _)| k.len() > keys.len() && k.starts_with(&keys));
        if longer {
            self.timer = Some(now + m.inter_digit);
        } else if let Some(target) = exact {
            self.choose(now, keys, target);
        } else {
            self.timer = None;
            self.menu_failed(now, &m, Failure::Invalid, Some(keys));
        }
    }

    pub(super) fn menu_timer(&mut self, now: Instant) {
        let Some(m) = self.menu_node() else { return };
        let Wait::Menu { keys, .. } = &self.wait else {
            return;
        };
        let keys = keys.clone();
        if keys.is_empty() {
            return self.menu_failed(now, &m, Failure::Timeout, None);
        }
        match m.options.iter().find(|(k, _)| *k == keys) {
            Some(&(_, target)) => self.choose(now, keys, target),
            None => self.menu_failed(now, &m, Failure::Invalid, Some(keys)),
        }
    }

    fn choose(&mut self, now: Instant, digits: String, target: usize) {
        let node = self.node_name();
        let target_name = self.name_of(target);
        self.log(IvrEvent::OptionChosen {
            node,
            digits,
            target: target_name,
        });
        self.go(now, target);
    }

    fn menu_failed(&mut self, now: Instant, m: &Menu, failure: Failure, keys: Option<String>) {
        let Wait::Menu { attempt, .. } = &mut self.wait else {
            return;
        };
        *attempt += 1;
        let attempt = *attempt;
        if self.failed(now, failure, attempt, m.retries, m.on_failure, keys) {
            return;
        }
        if let Wait::Menu { keys, .. } = &mut self.wait {
            keys.clear();
        }
        let lead = match failure {
            Failure::Invalid => m.invalid_prompts.clone(),
            Failure::Timeout => m.timeout_prompts.clone(),
        };
        self.prompt_for_keys(now, lead);
    }

    /// Logs a failed attempt; on the last one takes `on_failure` and returns true.
    fn failed(
        &mut self,
        now: Instant,
        failure: Failure,
        attempt: u32,
        retries: u32,
        on_failure: usize,
        keys: Option<String>,
    ) -> bool {
        let node = self.node_name();
        self.log(match failure {
            Failure::Timeout => IvrEvent::Timeout {
                node: node.clone(),
                attempt,
            },
            Failure::Invalid => IvrEvent::InvalidInput {
                node: node.clone(),
                attempt,
                digits: keys,
            },
        });
        if attempt <= retries {
            return false;
        }
        let target = self.name_of(on_failure);
        self.log(IvrEvent::LastFailure {
            node,
            failure,
            target,
        });
        self.go(now, on_failure);
        true
    }

    pub(super) fn collect_key(&mut self, now: Instant, d: char) {
        let Some(c) = self.collect_node() else { return };
        self.stop_prompt();
        let Wait::Collect {
            digits, confirming, ..
        } = &mut self.wait
        else {
            return;
        };
        if *confirming {
            match d {
                '1' => {
                    let digits = digits.clone();
                    self.accept(now, &c, digits);
                }
                '2' => {
                    let node = self.node_name();
                    self.log(IvrEvent::EntryRejected { node });
                    self.collect_failed(now, &c, Failure::Invalid, false);
                }
                _ => {} // only 1 and 2 mean something at a read-back
            }
            return;
        }
        if Some(d) == c.terminator {
            self.timer = None;
            return self.entry_complete(now, &c);
        }
        if !d.is_ascii_digit() {
            return; // `*` (or `#` without terminator) is no digit of a number
        }
        digits.push(d);
        if digits.len() >= c.max_digits {
            self.timer = None;
            self.entry_complete(now, &c);
        } else {
            self.timer = Some(now + c.inter_digit);
        }
    }

    pub(super) fn collect_timer(&mut self, now: Instant) {
        let Some(c) = self.collect_node() else { return };
        let Wait::Collect {
            digits, confirming, ..
        } = &self.wait
        else {
            return;
        };
        if *confirming || digits.is_empty() {
            self.collect_failed(now, &c, Failure::Timeout, true);
        } else {
            self.entry_complete(now, &c);
        }
    }

    /// The caller finished typing (terminator, maximum length, or inter-digit pause).
    fn entry_complete(&mut self, now: Instant, c: &Collect) {
        let Wait::Collect { digits, .. } = &self.wait else {
            return;
        };
        let digits = digits.clone();
        let valid = (c.min_digits..=c.max_digits).contains(&digits.len())
            && match c.validate {
                Validation::None => true,
                Validation::Cpf => is_valid_cpf(&digits),
            };
        if !valid {
            return self.collect_failed(now, c, Failure::Invalid, true);
        }
        match &c.confirm {
            None => self.accept(now, c, digits),
            Some((before, after)) => {
                let prompts = before
                    .iter()
                    .cloned()
                    .chain(say::digits(&digits))
                    .chain(after.iter().cloned())
                    .collect();
                let playback = self.play(prompts, true);
                if let Wait::Collect {
                    playback: p,
                    confirming,
                    ..
                } = &mut self.wait
                {
                    *p = Some(playback);
                    *confirming = true;
                }
            }
        }
    }

    fn accept(&mut self, now: Instant, c: &Collect, digits: String) {
        let node = self.node_name();
        self.log(IvrEvent::Collected {
            node,
            variable: c.variable.clone(),
            length: digits.len(),
        });
        self.vars.insert(c.variable.clone(), digits);
        self.go(now, c.next);
    }

    /// `log_failure`: false when the caller asked to type again (already logged).
    fn collect_failed(&mut self, now: Instant, c: &Collect, failure: Failure, log_failure: bool) {
        let Wait::Collect { attempt, .. } = &mut self.wait else {
            return;
        };
        *attempt += 1;
        let attempt = *attempt;
        let last = if log_failure {
            self.failed(now, failure, attempt, c.retries, c.on_failure, None)
        } else if attempt > c.retries {
            let node = self.node_name();
            let target = self.name_of(c.on_failure);
            self.log(IvrEvent::LastFailure {
                node,
                failure,
                target,
            });
            self.go(now, c.on_failure);
            true
        } else {
            false
        };
        if last {
            return;
        }
        if let Wait::Collect {
            digits, confirming, ..
        } = &mut self.wait
        {
            digits.clear();
            *confirming = false;
        }
        let lead = match (failure, log_failure) {
            (_, false) => Vec::new(),
            (Failure::Invalid, true) => c.invalid_prompts.clone(),
            (Failure::Timeout, true) => c.timeout_prompts.clone(),
        };
        self.prompt_for_keys(now, lead);
    }
}
