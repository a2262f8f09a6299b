//! The contract panel: each KPI the tender fines by, measured against its target, the
//! penalty band it falls in and the discount ("retenção") on the month's invoice.
//!
//! Pure: KPI counts and the month in, rows out. The measured counts come from the report
//! projector (NS, TAB, TMA, TME, IAR, ISA) and from quality monitoring (IMQ); this module
//! only judges them. Every comparison with a border is exact integer arithmetic on the
//! KPI's numerator and denominator (no floating point near a border): a value of
//! 89.9999 % is below 90 %. The penalty tables are data (`tables`), with the tender's
//! defaults and the decisions on its gaps and overlaps written in `docs/contract.md`;
//! `[contract]` in the config overrides them (`settings`).
//!
//! Limits: it does not decide which calls count (the projector's definitions do), and a
//! month is judged as a whole (the tender fines per month).

use jiff::civil::Date;
use serde::Serialize;

mod settings;
mod tables;
#[cfg(test)]
mod tests;

pub use settings::{BandSettings, ContractSettings, KpiSettings, SettingsError};
pub use tables::{Band, Direction, PenaltyTable, Unit, default_table};

/// The KPIs of the contract panel, in the order the panel shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KpiId {
    Ns,
    Tab,
    Tma,
    Tme,
    Iar,
    Isa,
    Imq,
}

impl KpiId {
    pub const ALL: [KpiId; 7] = [
        KpiId::Ns,
        KpiId::Tab,
        KpiId::Tma,
        KpiId::Tme,
        KpiId::Iar,
        KpiId::Isa,
        KpiId::Imq,
    ];

    /// The short name the tender uses.
    pub fn code(self) -> &'static str {
        match self {
            KpiId::Ns => "NS",
            KpiId::Tab => "TAB",
            KpiId::Tma => "TMA",
            KpiId::Tme => "TME",
            KpiId::Iar => "IAR",
            KpiId::Isa => "ISA",
            KpiId::Imq => "IMQ",
        }
    }

    /// The name shown on the panel (pt-BR).
    pub fn label(self) -> &'static str {
        match self {
            KpiId::Ns => "Nível de Serviço",
            KpiId::Tab => "Taxa de Abandono",
            KpiId::Tma => "Tempo Médio de Atendimento",
            KpiId::Tme => "Tempo Médio de Espera",
            KpiId::Iar => "Índice de Atendimentos Registrados",
            KpiId::Isa => "Índice de Satisfação do Atendimento",
            KpiId::Imq => "Índice de Monitoria de Qualidade",
        }
    }

    /// How numerator and denominator make the value.
    pub fn unit(self) -> Unit {
        match self {
            KpiId::Ns | KpiId::Tab | KpiId::Iar | KpiId::Isa => Unit::Percent,
            KpiId::Tma | KpiId::Tme => Unit::SecondsFromMs,
            KpiId::Imq => Unit::PercentFromHundredths,
        }
    }
}

/// A measured KPI: its numerator and denominator as counted (see `Unit` for their
/// meaning per KPI). A zero denominator is "not measured" and shows "—".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Measured {
    pub numerator: u64,
    pub denominator: u64,
}

impl Measured {
    pub fn new(numerator: u64, denominator: u64) -> Measured {
        Measured {
            numerator,
            denominator,
        }
    }
}

/// The month's measured KPIs; `None` (or a zero denominator) = nothing to measure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kpis {
    pub ns: Option<Measured>,
    pub tab: Option<Measured>,
    pub tma: Option<Measured>,
    pub tme: Option<Measured>,
    pub iar: Option<Measured>,
    pub isa: Option<Measured>,
    pub imq: Option<Measured>,
}

impl Kpis {
    pub fn get(&self, id: KpiId) -> Option<Measured> {
        match id {
            KpiId::Ns => self.ns,
            KpiId::Tab => self.tab,
            KpiId::Tma => self.tma,
            KpiId::Tme => self.tme,
            KpiId::Iar => self.iar,
            KpiId::Isa => self.isa,
            KpiId::Imq => self.imq,
        }
        .filter(|m| m.denominator > 0)
    }
}

/// The contract in force: targets, penalty tables, invoice value, adaptation period.
/// Built from `ContractSettings` (the tender's defaults unless the config says otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// The month's invoice, in centavos (0 = not configured: discounts shown in % only).
    pub invoice_cents: u64,
    /// The first day of the contract; `None` = no adaptation period is applied.
    pub start: Option<Date>,
    /// Days from `start` during which no penalty applies ("adaptação contratual").
    pub adaptation_days: u32,
    /// One table per KPI that carries a penalty (TME has none).
    pub tables: Vec<(KpiId, PenaltyTable)>,
}

impl Contract {
    pub fn table(&self, id: KpiId) -> Option<&PenaltyTable> {
        self.tables.iter().find(|(k, _)| *k == id).map(|(_, t)| t)
    }

    /// Whether `month` (its first day) starts inside the adaptation period: such a month
    /// carries no penalty (the band is still shown).
    pub fn in_adaptation(&self, month: Date) -> bool {
        let Some(start) = self.start else {
            return false;
        };
        let first = month.first_of_month();
        let days = i64::from(self.adaptation_days);
        match start.checked_add(jiff::Span::new().days(days)) {
            Ok(end) => first < end,
            Err(_) => true,
        }
    }
}

/// One KPI's line on the panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PanelRow {
    pub kpi: KpiId,
    pub label: &'static str,
    pub numerator: Option<u64>,
    pub denominator: Option<u64>,
    /// The value in thousandths of its unit (percent or seconds), rounded towards the
    /// target's worse side so a shown value never looks inside a band it is not in.
    pub value_milli: Option<i64>,
    /// The value as shown (pt-BR), "—" when not measured.
    pub value: String,
    /// The target as shown (e.g. "≥ 90 %", "≤ 481 s"); "—" for TME.
    pub target: String,
    /// Whether the target is met; `None` when not measured or without a target.
    pub met: Option<bool>,
    /// The band the value falls in (e.g. "80 % a < 90 %"); `None` when the target is met,
    /// the KPI was not measured, or it carries no penalty.
    pub band: Option<String>,
    /// The discount the band gives, in hundredths of a percent of the invoice (200 = 2 %),
    /// 0 during adaptation.
    pub discount_bp: u32,
    /// The same discount in centavos of the configured invoice.
    pub discount_cents: u64,
    /// The band's discount that the adaptation period waived (0 outside it).
    pub waived_bp: u32,
}

/// The month's panel: every KPI's row and the total discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Panel {
    /// The month judged, "YYYY-MM".
    pub month: String,
    pub rows: Vec<PanelRow>,
    pub invoice_cents: u64,
    /// Whether the month is in the adaptation period (no penalty applied).
    pub adaptation: bool,
    /// Sum of the rows' discounts (the tender adds one retention per indicator).
    pub total_discount_bp: u32,
    pub total_discount_cents: u64,
}

/// The contract panel for `month` from its measured KPIs.
pub fn panel(contract: &Contract, month: Date, kpis: &Kpis) -> Panel {
    let adaptation = contract.in_adaptation(month);
    let rows: Vec<PanelRow> = KpiId::ALL
        .iter()
        .map(|&id| row(contract, id, kpis.get(id), adaptation))
        .collect();
    let total_discount_bp = rows.iter().map(|r| r.discount_bp).sum();
    let total_discount_cents = rows.iter().map(|r| r.discount_cents).sum();
    Panel {
        month: format!("{:04}-{:02}", month.year(), month.month()),
        rows,
        invoice_cents: contract.invoice_cents,
        adaptation,
        total_discount_bp,
        total_discount_cents,
    }
}

fn row(contract: &Contract, id: KpiId, measured: Option<Measured>, adaptation: bool) -> PanelRow {
    let unit = id.unit();
    let table = contract.table(id);
    let direction = table
        .map(|t| t.direction)
        .unwrap_or(Direction::LowerIsBetter);
    let value_milli = measured.map(|m| unit.display_milli(m, direction));
    let judged = match (measured, table) {
        (Some(m), Some(t)) => Some(t.judge(unit, m)),
        _ => None,
    };
    let (met, band, band_bp) = match (judged, table) {
        (Some(None), Some(_)) => (Some(true), None, 0),
        (Some(Some(i)), Some(t)) => (
            Some(false),
            Some(t.band_label(unit, i)),
            t.bands[i].discount_bp,
        ),
        _ => (None, None, 0),
    };
    let (discount_bp, waived_bp) = if adaptation {
        (0, band_bp)
    } else {
        (band_bp, 0)
    };
    PanelRow {
        kpi: id,
        label: id.label(),
        numerator: measured.map(|m| m.numerator),
        denominator: measured.map(|m| m.denominator),
        value_milli,
        value: value_milli.map_or_else(|| "—".to_owned(), |v| unit.show(v)),
        target: table.map_or_else(|| "—".to_owned(), |t| t.target_label(unit)),
        met,
        band,
        discount_bp,
        discount_cents: discount_cents(contract.invoice_cents, discount_bp),
        waived_bp,
    }
}

/// `bp` hundredths of a percent of `invoice_cents`, rounded half up to the centavo.
pub fn discount_cents(invoice_cents: u64, bp: u32) -> u64 {
    let exact = u128::from(invoice_cents) * u128::from(bp);
    u64::try_from((exact + 5_000) / 10_000).unwrap_or(u64::MAX)
}

/// A number of thousandths shown with `decimals` decimals and a decimal comma; the value
/// is already rounded as the caller wants, so this only truncates the extra digits.
pub(crate) fn show_milli(v: i64, decimals: u32) -> String {
    let neg = v < 0;
    let v = v.unsigned_abs();
    let int = v / 1000;
    let frac = v % 1000;
    let sign = if neg { "-" } else { "" };
    if decimals == 0 {
        return format!("{sign}{int}");
    }
    let frac = frac / 10u64.pow(3 - decimals.min(3));
    format!(
        "{sign}{int},{frac:0width$}",
        width = decimals.min(3) as usize
    )
}

/// Centavos as "R$ 1.234,56".
pub fn show_reais(cents: u64) -> String {
    let int = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("R$ {grouped},{:02}", cents % 100)
}
