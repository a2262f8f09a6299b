//! `[contract]` in the config: the monthly invoice value, the contract's start and its
//! adaptation period, and any KPI table that differs from the tender's. Numbers are
//! written as operators read them (percent, seconds, reais) and turned into exact
//! integers (thousandths, hundredths of a percent, centavos) once, here.

use jiff::civil::Date;
use serde::Deserialize;

use super::tables::{Band, PenaltyTable, default_table};
use super::{Contract, KpiId};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("contract.{field}: {why}")]
    Field { field: String, why: String },
}

fn bad(field: impl Into<String>, why: impl Into<String>) -> SettingsError {
    SettingsError::Field {
        field: field.into(),
        why: why.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSettings {
    /// The month's invoice in reais (R$); 0 shows discounts in percent only.
    #[serde(default)]
    pub invoice_value: f64,
    /// The contract's first day ("YYYY-MM-DD"); absent = no adaptation period.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Days from `start_date` without penalties (the tender's 90-day "adaptação").
    #[serde(default = "default_adaptation_days")]
    pub adaptation_days: u32,
    /// Tables that replace the tender's, one per KPI (TME has none).
    #[serde(default)]
    pub ns: Option<KpiSettings>,
    #[serde(default)]
    pub tab: Option<KpiSettings>,
    #[serde(default)]
    pub tma: Option<KpiSettings>,
    #[serde(default)]
    pub iar: Option<KpiSettings>,
    #[serde(default)]
    pub isa: Option<KpiSettings>,
    #[serde(default)]
    pub imq: Option<KpiSettings>,
}

fn default_adaptation_days() -> u32 {
    90
}

impl Default for ContractSettings {
    fn default() -> Self {
        ContractSettings {
            invoice_value: 0.0,
            start_date: None,
            adaptation_days: default_adaptation_days(),
            ns: None,
            tab: None,
            tma: None,
            iar: None,
            isa: None,
            imq: None,
        }
    }
}

/// A KPI's table: the target and the bands from the mildest to the worst.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiSettings {
    /// Percent (seconds for TMA); at or better than it, no penalty.
    pub target: f64,
    pub bands: Vec<BandSettings>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandSettings {
    /// The band's far border, inclusive: its lowest value for NS, IAR, ISA and IMQ, its
    /// highest for TAB and TMA. The last band has none (everything beyond).
    #[serde(default)]
    pub limit: Option<f64>,
    /// Percent of the month's invoice.
    pub discount: f64,
}

/// `x` × `scale`, rounded, refusing what is not a finite non-negative number.
fn scaled(field: &str, x: f64, scale: f64) -> Result<i64, SettingsError> {
    if !x.is_finite() || x < 0.0 {
        return Err(bad(field, "must be a number 0 or above"));
    }
    let v = (x * scale).round();
    if v > 1e15 {
        return Err(bad(field, "is too large"));
    }
    Ok(v as i64)
}

impl ContractSettings {
    fn overrides(&self) -> [(KpiId, &Option<KpiSettings>); 6] {
        [
            (KpiId::Ns, &self.ns),
            (KpiId::Tab, &self.tab),
            (KpiId::Tma, &self.tma),
            (KpiId::Iar, &self.iar),
            (KpiId::Isa, &self.isa),
            (KpiId::Imq, &self.imq),
        ]
    }

    /// The contract in force, or the first setting that cannot be used.
    pub fn contract(&self) -> Result<Contract, SettingsError> {
        let invoice_cents = scaled("invoice_value", self.invoice_value, 100.0)? as u64;
        let start = match &self.start_date {
            None => None,
            Some(s) => Some(
                s.parse::<Date>()
                    .map_err(|_| bad("start_date", format!("{s:?} is not a date YYYY-MM-DD")))?,
            ),
        };
        let mut tables = Vec::new();
        for (id, over) in self.overrides() {
            let field = id.code().to_lowercase();
            let Some(default) = default_table(id) else {
                continue;
            };
            let table = match over {
                None => default,
                Some(k) => {
                    let mut bands = Vec::with_capacity(k.bands.len());
                    for (i, b) in k.bands.iter().enumerate() {
                        let f = format!("{field}.bands[{i}]");
                        let limit = match b.limit {
                            None => None,
                            Some(l) => Some(scaled(&format!("{f}.limit"), l, 1000.0)?),
                        };
                        let discount = scaled(&format!("{f}.discount"), b.discount, 100.0)?;
                        bands.push(Band {
                            limit_milli: limit,
                            discount_bp: u32::try_from(discount).unwrap_or(u32::MAX),
                        });
                    }
                    PenaltyTable {
                        direction: default.direction,
                        target_milli: scaled(&format!("{field}.target"), k.target, 1000.0)?,
                        bands,
                    }
                }
            };
            table.validate().map_err(|why| bad(&field, why))?;
            tables.push((id, table));
        }
        Ok(Contract {
            invoice_cents,
            start,
            adaptation_days: self.adaptation_days,
            tables,
        })
    }
}
