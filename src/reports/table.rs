//! Reports as typed tables: columns with a pt-BR label and a kind (count, percentage,
//! duration, date, text), rows of typed cells, and the definitions printed as notes. The
//! exports (XLSX, ODS, CSV in `src/export`) and any page render these without knowing
//! what a KPI is: numbers stay numbers, durations stay durations (milliseconds), an empty
//! ratio is `Empty` ("—").

use serde::Serialize;

use super::definitions::Definitions;
use super::kpi::{Mean, Ratio};
use super::report::{Report, Row};

/// What a column holds, so a writer can pick the cell type and format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// Local clock time `HH:MM:SS` (or an interval label `HH:MM-03:00`).
    Time,
    Count,
    /// 0–100.
    Percent,
    /// Milliseconds; shown as `[h]:mm:ss`.
    Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub key: String,
    /// What users read (pt-BR).
    pub label: String,
    pub kind: Kind,
}

/// One value; `Empty` for a ratio or mean without a denominator ("—").
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Cell {
    Empty,
    Text(String),
    Date(String),
    Time(String),
    Count(u64),
    Percent(f64),
    DurationMs(i64),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// The definitions in force and the period, one line each (pt-BR), printed with the
    /// table.
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: &str, columns: &[(&str, &str, Kind)]) -> Table {
        Table {
            title: title.to_owned(),
            columns: columns
                .iter()
                .map(|(key, label, kind)| Column {
                    key: (*key).to_owned(),
                    label: (*label).to_owned(),
                    kind: *kind,
                })
                .collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "sim" } else { "não" }
}

/// The definitions as printed lines (pt-BR).
pub fn definition_notes(d: &Definitions) -> Vec<String> {
    vec![
        format!("Definições: versão {}", d.version),
        format!("Fuso horário: {}", d.timezone.as_deref().unwrap_or("UTC")),
        format!("Limite do nível de serviço: espera ≤ {} ms", d.threshold_ms),
        format!(
            "NS conta abandonos na URA no denominador: {}",
            yes_no(d.ns_counts_ivr_abandons)
        ),
        format!(
            "TMA inclui o pós-atendimento: {}",
            yes_no(d.tma_includes_after_call)
        ),
        "Percentuais calculados sobre contagens somadas; \"—\" = sem denominador".to_owned(),
    ]
}

fn pct(r: &Ratio) -> Cell {
    r.percent.map(Cell::Percent).unwrap_or(Cell::Empty)
}

fn mean(m: &Mean) -> Cell {
    match m.seconds {
        Some(s) => Cell::DurationMs((s * 1000.0).round() as i64),
        None => Cell::Empty,
    }
}

/// The interval or day report as a table (tender §1.4 columns plus the indices).
pub fn report_table(r: &Report, title: &str) -> Table {
    let t = r.definitions.threshold_ms as f64 / 1000.0;
    let within = format!("≤ {t} s");
    let beyond = format!("> {t} s");
    let labels: Vec<(String, String, Kind)> = vec![
        ("period".into(), "Período".into(), Kind::Text),
        ("offered".into(), "Oferecidas".into(), Kind::Count),
        ("not_received".into(), "Não recebidas".into(), Kind::Count),
        ("received".into(), "Recebidas".into(), Kind::Count),
        ("answered".into(), "Atendidas".into(), Kind::Count),
        (
            "ivr_served".into(),
            "Atendidas pela URA".into(),
            Kind::Count,
        ),
        (
            "answered_within".into(),
            format!("Atendidas humano {within}"),
            Kind::Count,
        ),
        (
            "answered_beyond".into(),
            format!("Atendidas humano {beyond}"),
            Kind::Count,
        ),
        ("abandoned".into(), "Abandonadas".into(), Kind::Count),
        (
            "ivr_abandon".into(),
            "Abandonadas na URA".into(),
            Kind::Count,
        ),
        (
            "queue_abandon_within".into(),
            format!("Abandonadas na fila {within}"),
            Kind::Count,
        ),
        (
            "queue_abandon_beyond".into(),
            format!("Abandonadas na fila {beyond}"),
            Kind::Count,
        ),
        ("lost".into(), "Perdidas".into(), Kind::Count),
        ("in_progress".into(), "Em andamento".into(), Kind::Count),
        ("ns".into(), "NS (%)".into(), Kind::Percent),
        ("tab".into(), "TAB (%)".into(), Kind::Percent),
        ("tma".into(), "TMA".into(), Kind::Duration),
        ("tme".into(), "TME".into(), Kind::Duration),
        ("iar".into(), "IAR (%)".into(), Kind::Percent),
        ("isa".into(), "ISA (%)".into(), Kind::Percent),
        ("inr".into(), "INR (%)".into(), Kind::Percent),
        ("ipl".into(), "IPL (%)".into(), Kind::Percent),
        ("wait_max".into(), "Espera máxima".into(), Kind::Duration),
        ("talk_max".into(), "Conversa máxima".into(), Kind::Duration),
    ];
    let cols: Vec<(&str, &str, Kind)> = labels
        .iter()
        .map(|(k, l, kind)| (k.as_str(), l.as_str(), *kind))
        .collect();
    let mut table = Table::new(title, &cols);
    let line = |row: &Row| -> Vec<Cell> {
        let (s, k) = (&row.stats, &row.kpis);
        vec![
            Cell::Text(row.label.clone()),
            Cell::Count(s.offered),
            Cell::Count(s.not_received),
            Cell::Count(s.received()),
            Cell::Count(s.answered()),
            Cell::Count(s.ivr_served),
            Cell::Count(s.answered_within),
            Cell::Count(s.answered_beyond),
            Cell::Count(s.abandoned()),
            Cell::Count(s.ivr_abandon),
            Cell::Count(s.queue_abandon_within),
            Cell::Count(s.queue_abandon_beyond),
            Cell::Count(s.lost),
            Cell::Count(s.in_progress),
            pct(&k.ns),
            pct(&k.tab),
            mean(&k.tma),
            mean(&k.tme),
            pct(&k.iar),
            pct(&k.isa),
            pct(&k.inr),
            pct(&k.ipl),
            Cell::DurationMs(k.wait_max_ms),
            Cell::DurationMs(k.talk_max_ms),
        ]
    };
    table.rows = r.rows.iter().map(line).collect();
    let mut total = line(&r.total);
    total[0] = Cell::Text("Total".into());
    table.rows.push(total);
    table.notes = definition_notes(&r.definitions);
    table.notes.push(format!(
        "Período: {} a {}{}",
        r.period.from,
        r.period.to,
        if r.provisional { " (provisório)" } else { "" }
    ));
    if r.queue != "*" {
        table.notes.push(format!("Fila: {}", r.queue));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::report::{Period, by_day};
    use crate::reports::{SlotStats, Slotter};

    #[test]
    fn a_report_becomes_typed_columns_with_a_total_and_its_definitions() {
        let sp = Slotter::named("America/Sao_Paulo").expect("tz");
        let s = SlotStats {
            offered: 2,
            not_received: 1,
            ivr_abandon: 1,
            ..SlotStats::default()
        };
        let slots = vec![(0, "2026-12-07".to_owned(), 18, s)];
        let period = Period {
            from: "2026-12-01".into(),
            to: "2026-12-31".into(),
            timezone: "America/Sao_Paulo".into(),
        };
        let d = Definitions::default().in_force("America/Sao_Paulo");
        let t = report_table(&by_day(&slots, period, "*", &sp, &d), "Mensal");
        assert_eq!(t.columns.len(), t.rows[0].len());
        assert_eq!(t.rows.len(), 2, "one day and the total");
        assert_eq!(t.columns[6].label, "Atendidas humano ≤ 30 s");
        let col = |k: &str| t.columns.iter().position(|c| c.key == k).expect("column");
        assert_eq!(t.rows[1][col("received")], Cell::Count(1));
        assert_eq!(t.rows[1][col("ns")], Cell::Empty, "no denominator: —");
        assert_eq!(t.rows[1][col("inr")], Cell::Percent(50.0));
        assert_eq!(t.rows[1][0], Cell::Text("Total".into()));
        assert!(t.notes.iter().any(|n| n.contains("30000 ms")));
    }
}
