//! `atende acd …`: the staffing simulator and the Erlang C staffing answer. The only IO
//! is reading the profile file and printing.
//!
//! ```text
//! atende acd simulate --agents 9 --aht 481 --patience 180 --profile config/arrival-profile.csv
//! atende acd simulate --agents 25 --calls-per-hour 160 --aht 481 --hours 8 --json
//! atende acd staff --calls-per-hour 40 --aht 481 --target 0.9/30 --patience 180
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::erlang;
use super::kpi::Kpis;
use super::profile::Profile;
use super::sim::{SimConfig, SimReport, simulate};

#[derive(Debug, clap::Subcommand)]
pub enum AcdCommand {
    /// Run the ACD engine through a simulated day and print NS, TAB, ASA and occupancy.
    Simulate(SimulateArgs),
    /// How many agents a volume needs: Erlang C, then confirmed by simulation (NS target
    /// and TAB ≤ 7 %).
    Staff(StaffArgs),
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[arg(long)]
    agents: u32,
    /// Constant arrival rate (or use --profile).
    #[arg(long, required_unless_present = "profile")]
    calls_per_hour: Option<f64>,
    /// Mean handle (talk) time, seconds.
    #[arg(long)]
    aht: f64,
    /// Mean patience before abandoning, seconds; absent = callers never abandon.
    #[arg(long)]
    patience: Option<f64>,
    /// Length of a constant-rate run.
    #[arg(long, default_value_t = 8.0, conflicts_with = "profile")]
    hours: f64,
    /// Arrival rates per interval (CSV `start,end,calls_per_hour`; see
    /// config/arrival-profile.csv).
    #[arg(long, conflicts_with = "calls_per_hour")]
    profile: Option<PathBuf>,
    /// Multiply the profile's rates (e.g. 100 for 100× the tender's volume).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Repeat the profile's day this many times.
    #[arg(long, default_value_t = 1)]
    days: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print every interval even on long runs (otherwise only up to 48).
    #[arg(long)]
    intervals: bool,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct StaffArgs {
    #[arg(long)]
    calls_per_hour: f64,
    #[arg(long)]
    aht: f64,
    /// Service level goal as share/seconds: "0.9/30" (or "90/30") = 90 % within 30 s.
    #[arg(long, default_value = "0.9/30")]
    target: String,
    /// Mean patience for the confirming simulation; absent = never abandon.
    #[arg(long)]
    patience: Option<f64>,
    /// Simulated hours for the confirmation (longer = steadier answer).
    #[arg(long, default_value_t = 200.0)]
    hours: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: AcdCommand) -> ExitCode {
    let result = match cmd {
        AcdCommand::Simulate(a) => run_simulate(a),
        AcdCommand::Staff(a) => run_staff(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

const SHOWN_INTERVALS: usize = 48;

/// The contract's abandon limit (TAB ≤ 7 %), checked by `staff` next to the NS target.
const TAB_LIMIT: f64 = 0.07;

#[derive(Serialize)]
struct SimJson<'a> {
    #[serde(flatten)]
    overall: &'a Kpis,
    agents: u32,
    aht_input_seconds: f64,
    patience_seconds: Option<f64>,
    seed: u64,
    service_level_definition: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    intervals: Option<&'a [Kpis]>,
}

const NS_DEFINITION: &str =
    "(answered within 30 s + abandoned within 30 s) / (answered + abandoned + lost)";

fn run_simulate(a: SimulateArgs) -> Result<(), String> {
    let profile = match (&a.profile, a.calls_per_hour) {
        (Some(path), _) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Profile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        (None, Some(rate)) => Profile::constant(rate, a.hours),
        (None, None) => return Err("give --calls-per-hour or --profile".into()),
    };
    let cfg = SimConfig {
        agents: a.agents,
        aht_secs: a.aht,
        patience_secs: a.patience,
        profile: profile.scaled(a.scale).repeated(a.days),
        seed: a.seed,
        interval_secs: 1800.0,
    };
    let started = std::time::Instant::now();
    let r = simulate(&cfg).map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let show = a.intervals || r.intervals.len() <= SHOWN_INTERVALS;
    if a.json {
        let j = SimJson {
            overall: &r.overall,
            agents: a.agents,
            aht_input_seconds: a.aht,
            patience_seconds: a.patience,
            seed: a.seed,
            service_level_definition: NS_DEFINITION,
            intervals: show.then_some(r.intervals.as_slice()),
        };
        let s = serde_json::to_string(&j).map_err(|e| e.to_string())?;
        println!("{s}");
        return Ok(());
    }
    let patience = a
        .patience
        .map_or("never abandon".to_string(), |p| format!("patience {p} s"));
    println!(
        "{} agents, AHT {} s, {patience}, seed {}: {} calls in {:.2} s ({} engine inputs)",
        a.agents,
        a.aht,
        a.seed,
        r.overall.offered,
        elapsed.as_secs_f64(),
        r.engine_inputs
    );
    print_table(&r, show);
    Ok(())
}

fn print_table(r: &SimReport, show_intervals: bool) {
    println!(
        "{:<20} {:>8} {:>8} {:>9} {:>7} {:>7} {:>8} {:>8} {:>7}",
        "interval", "offered", "answered", "abandoned", "NS %", "TAB %", "ASA s", "AHT s", "occ %"
    );
    let row = |k: &Kpis| {
        println!(
            "{:<20} {:>8} {:>8} {:>9} {:>7.1} {:>7.1} {:>8.1} {:>8.1} {:>7.1}",
            k.label,
            k.offered,
            k.answered,
            k.abandoned,
            k.service_level * 100.0,
            k.abandon_rate * 100.0,
            k.asa_seconds,
            k.aht_seconds,
            k.occupancy * 100.0
        )
    };
    if show_intervals {
        r.intervals.iter().for_each(row);
    } else {
        println!("({} intervals; --intervals prints them)", r.intervals.len());
    }
    row(&r.overall);
    println!("NS = {NS_DEFINITION}; TAB = abandoned after 30 s / offered");
}

/// "0.9/30", "90/30" or "90%/30" → (0.9, 30.0).
fn parse_target(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("--target {s:?}: expected share/seconds such as 0.9/30");
    let (share, secs) = s.split_once('/').ok_or_else(bad)?;
    let share: f64 = share
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| bad())?;
    let secs: f64 = secs.trim().parse().map_err(|_| bad())?;
    let share = if share > 1.0 { share / 100.0 } else { share };
    if !(share > 0.0 && share < 1.0 && secs >= 0.0) {
        return Err(bad());
    }
    Ok((share, secs))
}

#[derive(Serialize)]
struct StaffJson {
    traffic_erlangs: f64,
    erlang_c_agents: u32,
    erlang_c_service_level: f64,
    erlang_c_asa_seconds: f64,
    agents: u32,
    simulated: Kpis,
    one_fewer: Option<Kpis>,
}

fn run_staff(a: StaffArgs) -> Result<(), String> {
    let (target, within) = parse_target(&a.target)?;
    if within != 30.0 {
        // The simulator reports the requirements' 30 s NS.
        return Err(
            "the simulation confirms 30 s targets only (NS); use --target <share>/30".into(),
        );
    }
    let traffic = erlang::traffic(a.calls_per_hour, a.aht);
    let n_c = erlang::agents_for(a.calls_per_hour, a.aht, target, within)
        .ok_or("no finite number of agents reaches that target")?;
    let sim = |agents: u32| {
        simulate(&SimConfig {
            agents,
            aht_secs: a.aht,
            patience_secs: a.patience,
            profile: Profile::constant(a.calls_per_hour, a.hours),
            seed: a.seed,
            interval_secs: 1800.0,
        })
        .map(|r| r.overall)
        .map_err(|e| e.to_string())
    };
    // Erlang C's answer, confirmed by simulation (more agents while it misses). The
    // walk never goes below Erlang C: with abandons the NS formula counts calls that
    // give up within 30 s as well served, so fewer agents can "meet" NS while callers
    // give up; the contract's TAB limit (7 %) must hold too.
    let meets = |k: &Kpis| k.service_level >= target && k.abandon_rate <= TAB_LIMIT;
    let mut n = n_c;
    let mut k = sim(n)?;
    while !meets(&k) && n < n_c + 200 {
        n += 1;
        k = sim(n)?;
    }
    let one_fewer = if n > 1 { Some(sim(n - 1)?) } else { None };
    if a.json {
        let j = StaffJson {
            traffic_erlangs: traffic,
            erlang_c_agents: n_c,
            erlang_c_service_level: erlang::service_level(n_c, traffic, a.aht, within),
            erlang_c_asa_seconds: erlang::asa(n_c, traffic, a.aht),
            agents: n,
            simulated: k,
            one_fewer,
        };
        println!("{}", serde_json::to_string(&j).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!(
        "traffic: {traffic:.2} Erlangs ({} calls/hour × {} s)",
        a.calls_per_hour, a.aht
    );
    println!(
        "Erlang C: {n_c} agents → {:.1} % within {within} s, ASA {:.1} s, occupancy {:.1} %",
        erlang::service_level(n_c, traffic, a.aht, within) * 100.0,
        erlang::asa(n_c, traffic, a.aht),
        traffic / f64::from(n_c) * 100.0
    );
    let patience = a
        .patience
        .map_or("never abandon".to_string(), |p| format!("patience {p} s"));
    println!(
        "simulation ({patience}, {} h, seed {}): {n} agents → NS {:.1} %, TAB {:.2} %, ASA {:.1} s, occupancy {:.1} %",
        a.hours,
        a.seed,
        k.service_level * 100.0,
        k.abandon_rate * 100.0,
        k.asa_seconds,
        k.occupancy * 100.0
    );
    if let Some(f) = &one_fewer {
        println!(
            "  with {} agents: NS {:.1} %, TAB {:.2} %, abandoned {:.1} % of offered",
            n - 1,
            f.service_level * 100.0,
            f.abandon_rate * 100.0,
            f.abandoned as f64 / f.offered.max(1) as f64 * 100.0
        );
    }
    println!("answer: {n} agents");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_as_share_and_seconds() {
        assert_eq!(parse_target("0.9/30"), Ok((0.9, 30.0)));
        assert_eq!(parse_target("90/30"), Ok((0.9, 30.0)));
        assert_eq!(parse_target("80%/20"), Ok((0.8, 20.0)));
        assert!(parse_target("0.9").is_err());
        assert!(parse_target("1.5/30").is_ok()); // 1.5 % within 30 s
        assert!(parse_target("0/30").is_err());
    }
}
