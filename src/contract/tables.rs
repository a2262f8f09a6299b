//! Penalty tables as data: a target, then bands from the mildest to the worst, each with
//! the discount it gives. The tender's tables (section 4.1.8 m–q) are the defaults, with
//! its gaps and overlaps decided as `docs/contract.md` explains:
//!
//! - bands are contiguous: each starts where the one before it ends, so no value falls
//!   between two bands (NS "< 89% - 80%" leaves 89–90 % out: it belongs to the 2 % band);
//! - the target's own row wins an overlap (TAB "<= 7%" vs "6,9% - 8,5%": 7.0 % and below
//!   carry no penalty), and a border value belongs to the milder band (TAB 8.5 % is in
//!   the 1 % band, not the "8,4% - 10%" one).

use serde::Serialize;

use super::{KpiId, Measured, show_milli};

/// How a KPI's numerator and denominator make its value (see `Unit::milli_factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// value % = 100 × numerator ÷ denominator (counts of calls or answers).
    Percent,
    /// value s = numerator ÷ denominator ÷ 1000 (numerator in milliseconds).
    SecondsFromMs,
    /// value % = numerator ÷ denominator ÷ 100 (numerator: sum of per-call scores in
    /// hundredths of a percentage point, as quality monitoring keeps them).
    PercentFromHundredths,
}

impl Unit {
    /// numerator × factor ÷ denominator is the value in thousandths of the unit.
    fn milli_factor(self) -> u128 {
        match self {
            Unit::Percent => 100_000,
            Unit::SecondsFromMs => 1,
            Unit::PercentFromHundredths => 10,
        }
    }

    /// The step the value is shown in, in thousandths (0.01 % or 0.1 s).
    fn quantum(self) -> u128 {
        match self {
            Unit::Percent | Unit::PercentFromHundredths => 10,
            Unit::SecondsFromMs => 100,
        }
    }

    /// The value in thousandths, rounded to the shown step towards the worse side: down
    /// when higher is better, up when lower is better.
    pub fn display_milli(self, m: Measured, direction: Direction) -> i64 {
        let num = u128::from(m.numerator) * self.milli_factor();
        let den = u128::from(m.denominator.max(1)) * self.quantum();
        let steps = match direction {
            Direction::HigherIsBetter => num / den,
            Direction::LowerIsBetter => num.div_ceil(den),
        };
        i64::try_from(steps * self.quantum()).unwrap_or(i64::MAX)
    }

    /// A value in thousandths as shown, with its unit.
    pub fn show(self, milli: i64) -> String {
        match self {
            Unit::Percent | Unit::PercentFromHundredths => format!("{} %", show_milli(milli, 2)),
            Unit::SecondsFromMs => format!("{} s", show_milli(milli, 1)),
        }
    }

    /// A border in thousandths as shown: only the decimals it has ("90 %", "8,5 %").
    fn show_border(self, milli: i64) -> String {
        let decimals = if milli % 1000 == 0 {
            0
        } else if milli % 100 == 0 {
            1
        } else if milli % 10 == 0 {
            2
        } else {
            3
        };
        let n = show_milli(milli, decimals);
        match self {
            Unit::Percent | Unit::PercentFromHundredths => format!("{n} %"),
            Unit::SecondsFromMs => format!("{n} s"),
        }
    }
}

/// Whether a higher value is better (NS, IAR, ISA, IMQ) or a lower one (TAB, TMA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// One penalty band: values from the previous band's `limit` (or the target) to this
/// `limit`, inclusive of `limit`, give `discount_bp`. `limit` is a lower bound when higher
/// is better and an upper bound when lower is better; `None` = everything beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Band {
    pub limit_milli: Option<i64>,
    /// Hundredths of a percent of the invoice (200 = 2 %).
    pub discount_bp: u32,
}

/// A KPI's target and its bands from the mildest to the worst; the last band has no limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PenaltyTable {
    pub direction: Direction,
    /// The target in thousandths of the unit: at or better than it, no penalty.
    pub target_milli: i64,
    pub bands: Vec<Band>,
}

impl PenaltyTable {
    /// `None` when the target is met, else the index of the band `m` falls in. Exact:
    /// compares numerator × factor with border × denominator in integers.
    pub fn judge(&self, unit: Unit, m: Measured) -> Option<usize> {
        let value = u128::from(m.numerator) * unit.milli_factor();
        let den = u128::from(m.denominator.max(1));
        let scaled = |milli: i64| u128::try_from(milli.max(0)).unwrap_or(0) * den;
        let within = |border: i64| match self.direction {
            Direction::HigherIsBetter => value >= scaled(border),
            Direction::LowerIsBetter => value <= scaled(border),
        };
        if within(self.target_milli) {
            return None;
        }
        let last = self.bands.len().saturating_sub(1);
        Some(
            self.bands
                .iter()
                .position(|b| b.limit_milli.is_none_or(within))
                .unwrap_or(last),
        )
    }

    pub fn target_label(&self, unit: Unit) -> String {
        let op = match self.direction {
            Direction::HigherIsBetter => "≥",
            Direction::LowerIsBetter => "≤",
        };
        format!("{op} {}", unit.show_border(self.target_milli))
    }

    /// Band `i`'s range as shown, e.g. "≥ 80 % e < 90 %" or "> 10 %".
    pub fn band_label(&self, unit: Unit, i: usize) -> String {
        let upper = if i == 0 {
            self.target_milli
        } else {
            self.bands[i - 1].limit_milli.unwrap_or(self.target_milli)
        };
        let b = |m: i64| unit.show_border(m);
        match (
            self.direction,
            self.bands.get(i).and_then(|x| x.limit_milli),
        ) {
            (Direction::HigherIsBetter, Some(l)) => format!("≥ {} e < {}", b(l), b(upper)),
            (Direction::HigherIsBetter, None) => format!("< {}", b(upper)),
            (Direction::LowerIsBetter, Some(l)) => format!("> {} e ≤ {}", b(upper), b(l)),
            (Direction::LowerIsBetter, None) => format!("> {}", b(upper)),
        }
    }

    /// Whether the table is usable: bands strictly ordered away from the target, the last
    /// one open, discounts at most 100 %.
    pub fn validate(&self) -> Result<(), String> {
        if self.bands.is_empty() {
            return Err("needs at least one band".into());
        }
        let mut prev = self.target_milli;
        for (i, b) in self.bands.iter().enumerate() {
            let last = i + 1 == self.bands.len();
            match (b.limit_milli, last) {
                (None, false) => return Err("only the last band may have no limit".into()),
                (Some(_), true) => return Err("the last band must have no limit".into()),
                (Some(l), false) => {
                    let ordered = match self.direction {
                        Direction::HigherIsBetter => l < prev,
                        Direction::LowerIsBetter => l > prev,
                    };
                    if !ordered {
                        return Err(format!(
                            "band limits must move away from the target (band {} limit {})",
                            i + 1,
                            show_milli(l, 3)
                        ));
                    }
                    prev = l;
                }
                (None, true) => {}
            }
            if b.discount_bp > 10_000 {
                return Err("a discount cannot exceed 100 %".into());
            }
        }
        if self.target_milli < 0 {
            return Err("the target cannot be negative".into());
        }
        Ok(())
    }
}

fn band(limit: Option<i64>, discount_bp: u32) -> Band {
    Band {
        limit_milli: limit,
        discount_bp,
    }
}

/// The tender's table for `id` (with the decisions above); `None` for TME, which the
/// tender follows without a penalty.
pub fn default_table(id: KpiId) -> Option<PenaltyTable> {
    use Direction::*;
    let (direction, target, bands) = match id {
        // n) NS ≥ 90 %: "< 89% - 80%" 2 %, "79% - 70%" 3 %, "< 70%" 5 %.
        KpiId::Ns => (
            HigherIsBetter,
            90_000,
            vec![
                band(Some(80_000), 200),
                band(Some(70_000), 300),
                band(None, 500),
            ],
        ),
        // o) TAB ≤ 7 %: "6,9% - 8,5%" 1 %, "8,4% - 10%" 2 %, "> 10%" 3 %.
        KpiId::Tab => (
            LowerIsBetter,
            7_000,
            vec![
                band(Some(8_500), 100),
                band(Some(10_000), 200),
                band(None, 300),
            ],
        ),
        // p) TMA ≤ 481 s: above, 1 %.
        KpiId::Tma => (LowerIsBetter, 481_000, vec![band(None, 100)]),
        KpiId::Tme => return None,
        // q) IAR ≥ 90 %: "89% - 80%" 1 %, "79% - 70%" 2 %, "< 70%" 3 %.
        KpiId::Iar => (
            HigherIsBetter,
            90_000,
            vec![
                band(Some(80_000), 100),
                band(Some(70_000), 200),
                band(None, 300),
            ],
        ),
        // q) ISA ≥ 80 %: "79% - 70%" 1 %, "69% - 60%" 3 %, "< 60%" 5 %.
        KpiId::Isa => (
            HigherIsBetter,
            80_000,
            vec![
                band(Some(70_000), 100),
                band(Some(60_000), 300),
                band(None, 500),
            ],
        ),
        // q) MQ ≥ 80 %: "79% - 60%" 1 %, "59% - 40%" 3 %, "< 40%" 5 %.
        KpiId::Imq => (
            HigherIsBetter,
            80_000,
            vec![
                band(Some(60_000), 100),
                band(Some(40_000), 300),
                band(None, 500),
            ],
        ),
    };
    Some(PenaltyTable {
        direction,
        target_milli: target,
        bands,
    })
}
