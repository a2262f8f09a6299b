//! Erlang C: the textbook answer to "how many agents for this traffic", used by
//! `atende acd staff` and as the yardstick the simulator is checked against.
//!
//! Assumes Poisson arrivals, exponential handle times, first-come first-served, and
//! callers who never give up (no abandons): it over-staffs a little when callers do
//! abandon, which is why `staff` confirms its answer by simulation.

/// Offered traffic in Erlangs.
pub fn traffic(calls_per_hour: f64, aht_secs: f64) -> f64 {
    calls_per_hour * aht_secs / 3600.0
}

/// Erlang B blocking probability, by the stable recursion B(k) = A·B(k-1) / (k + A·B(k-1)).
pub fn erlang_b(agents: u32, traffic: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=agents {
        b = traffic * b / (f64::from(k) + traffic * b);
    }
    b
}

/// Probability that a call waits at all (1 when the agents cannot carry the traffic).
pub fn erlang_c(agents: u32, traffic: f64) -> f64 {
    let n = f64::from(agents);
    if n <= traffic {
        return 1.0;
    }
    let b = erlang_b(agents, traffic);
    n * b / (n - traffic * (1.0 - b))
}

/// Share of calls answered within `within_secs`.
pub fn service_level(agents: u32, traffic: f64, aht_secs: f64, within_secs: f64) -> f64 {
    let n = f64::from(agents);
    if n <= traffic {
        return 0.0;
    }
    1.0 - erlang_c(agents, traffic) * (-(n - traffic) * within_secs / aht_secs).exp()
}

/// Average speed of answer (mean wait over all calls), seconds.
pub fn asa(agents: u32, traffic: f64, aht_secs: f64) -> f64 {
    let n = f64::from(agents);
    if n <= traffic {
        return f64::INFINITY;
    }
    erlang_c(agents, traffic) * aht_secs / (n - traffic)
}

/// Fewest agents whose service level meets `target` (e.g. 0.9 within 30 s).
pub fn agents_for(
    calls_per_hour: f64,
    aht_secs: f64,
    target: f64,
    within_secs: f64,
) -> Option<u32> {
    let a = traffic(calls_per_hour, aht_secs);
    let start = a.floor() as u32 + 1;
    (start..start.saturating_add(100_000))
        .find(|n| service_level(*n, a, aht_secs, within_secs) >= target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-checked figures: 2 Erlangs on 3 agents, B = 4/19, C = 4/9.
    #[test]
    fn textbook_values() {
        assert!((erlang_b(3, 2.0) - 4.0 / 19.0).abs() < 1e-12);
        assert!((erlang_c(3, 2.0) - 4.0 / 9.0).abs() < 1e-12);
        // ASA = C·AHT/(N-A) = 4/9 · 180 / 1 = 80 s.
        assert!((asa(3, 2.0, 180.0) - 80.0).abs() < 1e-9);
        // SL(20 s) = 1 - 4/9 · e^(-1·20/180).
        let sl = 1.0 - 4.0 / 9.0 * (-20.0f64 / 180.0).exp();
        assert!((service_level(3, 2.0, 180.0, 20.0) - sl).abs() < 1e-12);
        assert_eq!(erlang_c(2, 2.0), 1.0);
    }

    /// The tender's peak: ≈ 40 calls/hour at 481 s is 5.34 Erlangs.
    #[test]
    fn tender_peak_needs_nine_agents_for_90_in_30() {
        let a = traffic(40.0, 481.0);
        assert!((a - 5.344).abs() < 0.001);
        assert_eq!(agents_for(40.0, 481.0, 0.9, 30.0), Some(9));
        assert!(service_level(8, a, 481.0, 30.0) < 0.9);
    }
}
