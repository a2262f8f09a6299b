//! Which alarms are raised, pure: observations and the time in, raise/clear transitions
//! out. No clock, IO or runtime here (the watcher in `watch` gathers the observations).
//!
//! Each alarm follows one rule: an observation is judged `Bad`, `Good` or `Neutral`
//! (not enough data, or inside the hysteresis band); a raised alarm is cleared only by
//! `clear_after` good observations in a row and a clear one raised only by `raise_after`
//! bad ones, so a value hovering at its border does not send a mail per check. Neutral
//! observations break both streaks. Limits: one instance per alarm (not per queue or per
//! day): a second bad day while the first is raised is the same alarm, still raised.

use serde::Serialize;

/// The alarms the tender names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmId {
    /// A recording failed (disk full, unwritable directory).
    RecordingFailed,
    /// A closed day whose answered calls do not all have a sealed recording.
    RecordingsMismatch,
    /// The service level of the last hour is under the contract's target.
    ServiceLevel,
    /// The database does not answer.
    DatabaseDown,
    /// Free space on the recordings' filesystem under the threshold.
    DiskLow,
    /// The audit log's hash chain does not verify (an entry changed or deleted).
    AuditChainBroken,
}

impl AlarmId {
    pub const ALL: [AlarmId; 6] = [
        AlarmId::RecordingFailed,
        AlarmId::RecordingsMismatch,
        AlarmId::ServiceLevel,
        AlarmId::DatabaseDown,
        AlarmId::DiskLow,
        AlarmId::AuditChainBroken,
    ];

    /// The name on `/metrics`, in webhooks and in the stored state.
    pub fn name(self) -> &'static str {
        match self {
            AlarmId::RecordingFailed => "recording_failed",
            AlarmId::RecordingsMismatch => "recordings_mismatch",
            AlarmId::ServiceLevel => "service_level",
            AlarmId::DatabaseDown => "database_down",
            AlarmId::DiskLow => "disk_low",
            AlarmId::AuditChainBroken => "audit_chain_broken",
        }
    }

    pub fn from_name(name: &str) -> Option<AlarmId> {
        AlarmId::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What operators read (pt-BR).
    pub fn label(self) -> &'static str {
        match self {
            AlarmId::RecordingFailed => "Falha de gravação",
            AlarmId::RecordingsMismatch => {
                "Gravações do dia não conferem com as chamadas atendidas"
            }
            AlarmId::ServiceLevel => "Nível de serviço da última hora abaixo da meta",
            AlarmId::DatabaseDown => "Banco de dados inacessível",
            AlarmId::DiskLow => "Pouco espaço em disco para as gravações",
            AlarmId::AuditChainBroken => "Registro de auditoria violado (cadeia de hashes rompida)",
        }
    }

    fn index(self) -> usize {
        AlarmId::ALL.iter().position(|a| *a == self).unwrap_or(0)
    }

    /// Observations in a row needed to raise, then to clear.
    fn streaks(self) -> (u32, u32) {
        match self {
            // One failed probe may be a blip (a pool reconnecting): two in a row.
            AlarmId::DatabaseDown => (2, 2),
            _ => (1, 1),
        }
    }
}

/// What one check saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The recorder's failure counter since the server started.
    RecordingErrors {
        total: u64,
    },
    /// A closed day's answered calls and how many of them have a sealed recording.
    RecordingsChecked {
        date: String,
        answered: u64,
        recorded: u64,
    },
    /// NS of the last hour (numerator, denominator), the target in thousandths of a
    /// percent, and the fewest calls NS is judged on (`[alarms] service_level_min_calls`).
    ServiceLevel {
        numerator: u64,
        denominator: u64,
        target_milli: i64,
        min_calls: u64,
    },
    Database {
        up: bool,
    },
    /// Free bytes on the recordings' filesystem and the threshold (0 = not watched).
    Disk {
        free_bytes: u64,
        min_free_bytes: u64,
    },
    /// A walk of the audit log's hash chain: entries read, and the first that does not
    /// chain (None: it holds).
    AuditChain {
        rows: u64,
        broken_at: Option<i64>,
    },
}

/// How long the recorder must go without a new failure before its alarm clears.
pub const RECORDING_QUIET_MS: i64 = 10 * 60 * 1000;
/// NS must be this many thousandths of a percent over target to clear (2 points).
pub const SERVICE_LEVEL_CLEAR_MARGIN_MILLI: i64 = 2_000;
/// Free space must be the threshold plus this share (in %) to clear.
pub const DISK_CLEAR_MARGIN_PERCENT: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Bad,
    Good,
    Neutral,
}

/// A raise or a clear, to be notified and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub alarm: AlarmId,
    pub raised: bool,
    pub at_ms: i64,
    /// What was seen, for the operator (pt-BR; no personal data).
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    raised: bool,
    bad: u32,
    good: u32,
}

/// The state of every alarm.
#[derive(Debug, Clone, Default)]
pub struct Alarms {
    slots: [Slot; 6],
    recording_total: u64,
    last_recording_failure_ms: Option<i64>,
}

impl Alarms {
    /// Starts with `raised` already raised (as stored before a restart): they are not
    /// raised again, only cleared when their condition ends.
    pub fn new(raised: &[AlarmId]) -> Alarms {
        let mut a = Alarms::default();
        for id in raised {
            a.slots[id.index()].raised = true;
        }
        a
    }

    pub fn is_raised(&self, id: AlarmId) -> bool {
        self.slots[id.index()].raised
    }

    pub fn raised(&self) -> Vec<AlarmId> {
        AlarmId::ALL
            .into_iter()
            .filter(|a| self.is_raised(*a))
            .collect()
    }

    /// Takes one observation made at `now_ms`; returns the transition it causes, if any.
    pub fn observe(&mut self, o: &Observation, now_ms: i64) -> Option<Transition> {
        let (id, verdict, detail) = self.judge(o, now_ms);
        let (raise_after, clear_after) = id.streaks();
        let slot = &mut self.slots[id.index()];
        match verdict {
            Verdict::Bad => {
                slot.bad += 1;
                slot.good = 0;
            }
            Verdict::Good => {
                slot.good += 1;
                slot.bad = 0;
            }
            Verdict::Neutral => {
                slot.bad = 0;
                slot.good = 0;
            }
        }
        let flip = if slot.raised {
            slot.good >= clear_after
        } else {
            slot.bad >= raise_after
        };
        if !flip {
            return None;
        }
        slot.raised = !slot.raised;
        slot.bad = 0;
        slot.good = 0;
        Some(Transition {
            alarm: id,
            raised: slot.raised,
            at_ms: now_ms,
            detail,
        })
    }

    fn judge(&mut self, o: &Observation, now_ms: i64) -> (AlarmId, Verdict, String) {
        match o {
            Observation::RecordingErrors { total } => {
                let new = total.saturating_sub(self.recording_total);
                self.recording_total = *total;
                if new > 0 {
                    self.last_recording_failure_ms = Some(now_ms);
                    let detail = format!(
                        "{new} gravação(ões) falharam desde a última verificação ({total} desde o início do servidor)"
                    );
                    return (AlarmId::RecordingFailed, Verdict::Bad, detail);
                }
                let quiet = self
                    .last_recording_failure_ms
                    .is_none_or(|t| now_ms - t >= RECORDING_QUIET_MS);
                let v = if quiet {
                    Verdict::Good
                } else {
                    Verdict::Neutral
                };
                let detail = format!(
                    "nenhuma falha de gravação nos últimos {} minutos",
                    RECORDING_QUIET_MS / 60_000
                );
                (AlarmId::RecordingFailed, v, detail)
            }
            Observation::RecordingsChecked {
                date,
                answered,
                recorded,
            } => {
                let v = if recorded < answered {
                    Verdict::Bad
                } else {
                    Verdict::Good
                };
                let detail = format!(
                    "dia {date}: {answered} chamadas atendidas, {recorded} com gravação selada"
                );
                (AlarmId::RecordingsMismatch, v, detail)
            }
            Observation::ServiceLevel {
                numerator,
                denominator,
                target_milli,
                min_calls,
            } => {
                let detail = format!(
                    "última hora: NS {} ({numerator} de {denominator}), meta {}",
                    percent(*numerator, *denominator),
                    milli_percent(*target_milli)
                );
                // Fewer calls than this in the hour: NS says nothing yet.
                if *denominator < *min_calls {
                    return (AlarmId::ServiceLevel, Verdict::Neutral, detail);
                }
                // Exact: numerator × 100 000 vs border × denominator (thousandths of %).
                let value = u128::from(*numerator) * 100_000;
                let over = |border: i64| {
                    value >= u128::try_from(border.max(0)).unwrap_or(0) * u128::from(*denominator)
                };
                let v = if !over(*target_milli) {
                    Verdict::Bad
                } else if over(target_milli + SERVICE_LEVEL_CLEAR_MARGIN_MILLI) {
                    Verdict::Good
                } else {
                    Verdict::Neutral
                };
                (AlarmId::ServiceLevel, v, detail)
            }
            Observation::Database { up } => {
                let (v, detail) = if *up {
                    (Verdict::Good, "o banco de dados responde".to_owned())
                } else {
                    (Verdict::Bad, "o banco de dados não responde".to_owned())
                };
                (AlarmId::DatabaseDown, v, detail)
            }
            Observation::Disk {
                free_bytes,
                min_free_bytes,
            } => {
                let detail = format!(
                    "{} MB livres, mínimo {} MB",
                    free_bytes / 1_048_576,
                    min_free_bytes / 1_048_576
                );
                let clear_at =
                    min_free_bytes.saturating_add(min_free_bytes / 100 * DISK_CLEAR_MARGIN_PERCENT);
                let v = if *min_free_bytes == 0 || *free_bytes >= clear_at {
                    Verdict::Good
                } else if free_bytes < min_free_bytes {
                    Verdict::Bad
                } else {
                    Verdict::Neutral
                };
                (AlarmId::DiskLow, v, detail)
            }
            // The id only: the entry's content may name people.
            Observation::AuditChain { rows, broken_at } => match broken_at {
                Some(id) => (
                    AlarmId::AuditChainBroken,
                    Verdict::Bad,
                    format!("cadeia de hashes rompida a partir do registro {id}"),
                ),
                None => (
                    AlarmId::AuditChainBroken,
                    Verdict::Good,
                    format!("cadeia de hashes íntegra ({rows} registros verificados)"),
                ),
            },
        }
    }
}

fn percent(n: u64, d: u64) -> String {
    if d == 0 {
        return "—".into();
    }
    format!("{:.1} %", 100.0 * n as f64 / d as f64).replace('.', ",")
}

fn milli_percent(m: i64) -> String {
    format!("{:.1} %", m as f64 / 1000.0).replace('.', ",")
}

#[cfg(test)]
mod tests;
