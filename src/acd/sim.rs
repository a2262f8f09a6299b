//! The staffing simulator: a discrete-event simulation that drives the real `Engine`
//! in virtual time, with Poisson arrivals (rate per interval from a `Profile`),
//! exponential handle times and exponential patience (none = callers never give up).
//!
//! KPIs come from the engine's own log (`Answered`/`Abandoned` with their waits), so the
//! simulation also exercises what production writes. Calls are counted in the interval
//! they arrive in; arrivals stop at the end of the profile and the run goes on until
//! every call has finished. Offers are answered at once (no ring time) and there is no
//! wrap-up, the assumptions of Erlang C. The RNG is seeded: a seed gives one answer.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::AcdError;
use super::config::{EngineConfig, QueueConfig};
use super::engine::Engine;
use super::event::{AcdEvent, AgentLogin, Input, Membership, NewCall, Output};
use super::ids::{CallerNumber, Now, Tick};
use super::kpi::{Kpis, Tally};
use super::profile::Profile;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub agents: u32,
    pub aht_secs: f64,
    /// Mean patience; `None` = callers wait for ever.
    pub patience_secs: Option<f64>,
    pub profile: Profile,
    pub seed: u64,
    /// Report interval (the requirements' reports use 30 minutes).
    pub interval_secs: f64,
}

#[derive(Debug, Clone)]
pub struct SimReport {
    pub overall: Kpis,
    pub intervals: Vec<Kpis>,
    pub engine_inputs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("at least one agent is needed")]
    NoAgents,
    #[error("the handle time must be a positive number of seconds")]
    BadAht,
    #[error("the patience must be a positive number of seconds")]
    BadPatience,
    #[error("the arrival profile is empty")]
    EmptyProfile,
    #[error("the engine refused a simulated input: {0}")]
    Engine(#[from] AcdError),
}

const QUEUE: &str = "sim";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    Patience(u32),
    Done(u32),
}

struct SimCall {
    interval: usize,
    answered_at: Option<i64>,
    over: bool,
}

/// Exponential draw with this mean, from one uniform draw (inverse transform).
fn exp(rng: &mut Xoshiro256PlusPlus, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

fn ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

struct Sim<'a> {
    cfg: &'a SimConfig,
    rng: Xoshiro256PlusPlus,
    engine: Engine,
    base: Now,
    now_ms: i64,
    heap: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    seq: u64,
    calls: Vec<SimCall>,
    tallies: Vec<Tally>,
    pending: VecDeque<Input>,
    inputs: u64,
    horizon_ms: i64,
    /// Arrival process state: current time and segment.
    arr_t: f64,
    arr_seg: usize,
}

impl Sim<'_> {
    fn now(&self) -> Now {
        self.base.plus(Duration::from_millis(self.now_ms as u64))
    }

    fn push(&mut self, at_ms: i64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at_ms, self.seq, ev)));
    }

    /// The next arrival of the piecewise-constant Poisson process (memorylessness lets
    /// each segment restart the draw at its own start).
    fn next_arrival(&mut self) -> Option<f64> {
        let segs = &self.cfg.profile.segments;
        while let Some(seg) = segs.get(self.arr_seg) {
            self.arr_t = self.arr_t.max(seg.start_secs);
            if seg.calls_per_hour > 0.0 {
                let t = self.arr_t + exp(&mut self.rng, 3600.0 / seg.calls_per_hour);
                if t < seg.end_secs {
                    self.arr_t = t;
                    return Some(t);
                }
            }
            self.arr_t = seg.end_secs;
            self.arr_seg += 1;
        }
        None
    }

    fn interval_of(&self, at_ms: i64) -> usize {
        ((at_ms as f64 / 1000.0) / self.cfg.interval_secs) as usize
    }

    /// Agent time on a call, spread over the intervals it covers (within the horizon).
    fn add_busy(&mut self, from_ms: i64, to_ms: i64) {
        let len_ms = ms(self.cfg.interval_secs);
        let (mut a, b) = (from_ms, to_ms.min(self.horizon_ms));
        while a < b {
            let k = self.interval_of(a);
            let end = ((k as i64 + 1) * len_ms).min(b);
            if let Some(t) = self.tallies.get_mut(k) {
                t.busy_secs += (end - a) as f64 / 1000.0;
            }
            a = end;
        }
    }

    fn input(&mut self, i: Input) -> Result<(), SimError> {
        self.pending.push_back(i);
        while let Some(i) = self.pending.pop_front() {
            self.inputs += 1;
            let now = self.now();
            self.engine.handle_input(now, i)?;
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), SimError> {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Offer { call, agent, .. } => {
                    self.pending.push_back(Input::OfferAnswered { call, agent });
                }
                Output::Log(AcdEvent::Answered {
                    call, waited_ms, ..
                }) => {
                    let n = call_no(&call.0);
                    let talk = ms(exp(&mut self.rng, self.cfg.aht_secs)).max(1);
                    let now = self.now_ms;
                    if let Some(c) = self.calls.get_mut(n as usize) {
                        c.answered_at = Some(now);
                        let k = c.interval;
                        if let Some(t) = self.tallies.get_mut(k) {
                            t.answered(waited_ms);
                            t.talk_ms += talk as u64;
                        }
                    }
                    self.add_busy(now, now + talk);
                    self.push(now + talk, Ev::Done(n));
                }
                Output::Log(AcdEvent::Abandoned {
                    call, waited_ms, ..
                }) => {
                    let k = self.calls[call_no(&call.0) as usize].interval;
                    if let Some(t) = self.tallies.get_mut(k) {
                        t.abandoned(waited_ms);
                    }
                }
                Output::Log(AcdEvent::Routed { call, .. }) => {
                    let k = self.calls[call_no(&call.0) as usize].interval;
                    if let Some(t) = self.tallies.get_mut(k) {
                        t.lost += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn event(&mut self, ev: Ev) -> Result<(), SimError> {
        match ev {
            Ev::Arrival => {
                let n = self.calls.len() as u32;
                let interval = self.interval_of(self.now_ms);
                self.calls.push(SimCall {
                    interval,
                    answered_at: None,
                    over: false,
                });
                if let Some(t) = self.tallies.get_mut(interval) {
                    t.offered += 1;
                }
                if let Some(p) = self.cfg.patience_secs {
                    let at = self.now_ms + ms(exp(&mut self.rng, p));
                    self.push(at, Ev::Patience(n));
                }
                if let Some(t) = self.next_arrival() {
                    self.push(ms(t), Ev::Arrival);
                }
                self.input(Input::Enqueue(NewCall {
                    call: format!("c{n}").into(),
                    queue: QUEUE.into(),
                    priority: 0,
                    skills: Vec::new(),
                    a_number: CallerNumber::new("0"),
                    variables: Default::default(),
                }))?;
            }
            Ev::Patience(n) => {
                let c = &self.calls[n as usize];
                if c.answered_at.is_none() && !c.over {
                    self.calls[n as usize].over = true;
                    self.input(Input::Hangup {
                        call: format!("c{n}").into(),
                    })?;
                }
            }
            Ev::Done(n) => {
                self.calls[n as usize].over = true;
                self.input(Input::Hangup {
                    call: format!("c{n}").into(),
                })?;
            }
        }
        Ok(())
    }
}

fn call_no(id: &str) -> u32 {
    id.strip_prefix('c')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub fn simulate(cfg: &SimConfig) -> Result<SimReport, SimError> {
    if cfg.agents == 0 {
        return Err(SimError::NoAgents);
    }
    if !(cfg.aht_secs.is_finite() && cfg.aht_secs > 0.0) {
        return Err(SimError::BadAht);
    }
    if cfg
        .patience_secs
        .is_some_and(|p| !(p.is_finite() && p > 0.0))
    {
        return Err(SimError::BadPatience);
    }
    let horizon = cfg.profile.duration_secs();
    if horizon <= 0.0 {
        return Err(SimError::EmptyProfile);
    }
    let wall: jiff::Timestamp = jiff::Timestamp::from_second(1_772_449_200).unwrap_or_default();
    let base = Now::new(Tick::ZERO, wall);
    let mut queue = QueueConfig::new(QUEUE);
    // Offers are answered at once; a long ring timeout can never fire.
    queue.ring_timeout_secs = 86_400;
    let engine = Engine::new(
        EngineConfig {
            queues: vec![queue],
            pause_reasons: Vec::new(),
        },
        base,
    )?;
    let n_intervals = (horizon / cfg.interval_secs).ceil() as usize;
    let mut tallies = vec![Tally::default(); n_intervals];
    for (k, t) in tallies.iter_mut().enumerate() {
        let start = k as f64 * cfg.interval_secs;
        let len = (horizon - start).min(cfg.interval_secs);
        t.staffed_secs = f64::from(cfg.agents) * len;
    }
    let mut sim = Sim {
        cfg,
        rng: Xoshiro256PlusPlus::seed_from_u64(cfg.seed),
        engine,
        base,
        now_ms: 0,
        heap: BinaryHeap::new(),
        seq: 0,
        calls: Vec::new(),
        tallies,
        pending: VecDeque::new(),
        inputs: 0,
        horizon_ms: ms(horizon),
        arr_t: 0.0,
        arr_seg: 0,
    };
    for i in 0..cfg.agents {
        sim.input(Input::AgentLogin(AgentLogin {
            agent: format!("a{i}").into(),
            memberships: vec![Membership::new(QUEUE, 1)],
            skills: Vec::new(),
            ready: true,
        }))?;
    }
    if let Some(t) = sim.next_arrival() {
        sim.push(ms(t), Ev::Arrival);
    }
    while let Some(Reverse((at, _, ev))) = sim.heap.pop() {
        // Engine timers first if they are due before the next simulated event.
        while let Some(t) = sim.engine.next_timeout()
            && t.0 <= at
        {
            sim.now_ms = t.0;
            let now = sim.now();
            sim.engine.handle_timeout(now);
            sim.drain()?;
        }
        sim.now_ms = at;
        sim.event(ev)?;
    }
    let mut total = Tally::default();
    for t in &sim.tallies {
        total.add(t);
    }
    let intervals = sim
        .tallies
        .iter()
        .enumerate()
        .map(|(k, t)| t.report(label(cfg, k)))
        .collect();
    Ok(SimReport {
        overall: total.report("overall".into()),
        intervals,
        engine_inputs: sim.inputs,
    })
}

fn label(cfg: &SimConfig, k: usize) -> String {
    let len_min = (cfg.interval_secs / 60.0).round() as u64;
    let from = k as u64 * len_min;
    let hm = |m: u64| format!("{:02}:{:02}", (m / 60) % 24, m % 60);
    match cfg.profile.clock_start_min {
        Some(start) => {
            // A repeated day restarts at the profile's first clock time.
            let day_min = (cfg.profile.day_secs / 60.0).round().max(1.0) as u64;
            let (day, offset) = (from / day_min, from % day_min);
            let f = u64::from(start) + offset;
            let span = format!("{}-{}", hm(f), hm(f + len_min));
            if cfg.profile.duration_secs() > cfg.profile.day_secs {
                format!("d{} {span}", day + 1)
            } else {
                span
            }
        }
        None => format!("+{}-+{}", hm(from), hm(from + len_min)),
    }
}

#[cfg(test)]
mod tests;
