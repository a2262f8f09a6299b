//! `/api/contract/{month}`: the contract panel (the month's KPIs against the contract's
//! targets, bands and discounts) as JSON or a download, and the same panel as a table
//! for the monthly e-mail. A closed month shows its frozen copy.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::warn;

use super::{QualityError, db, parse_month};
use crate::api::ApiState;
use crate::contract::{self, Kpis};
use crate::quality::Month;
use crate::quality::score::summary;
use crate::reports::table::{Cell as TCell, Table};
use crate::store::reports_read::{self, Queues, ReportContext};

/// The contract panel of `month`: NS, TAB, TMA, TME, IAR and ISA from the projector's
/// month report (the very figures of `/api/reports/month`, all queues), IMQ from quality
/// monitoring. `format=xlsx|ods|csv` downloads it (`painel-contrato-2026-12.xlsx`).
pub(super) async fn contract_panel(
    State(state): State<ApiState>,
    Path(month): Path<String>,
    Query(q): Query<PanelParams>,
) -> Result<Response, QualityError> {
    let month = parse_month(&month)?;
    let download =
        match q.format.as_deref() {
            None | Some("json") => None,
            Some(f) => Some(crate::export::Format::parse(f).ok_or_else(|| {
                QualityError::BadRequest("format is json, xlsx, ods or csv".into())
            })?),
        };
    // A closed month's panel is its frozen copy; a download of it is made only while
    // the live figures are that copy (else an admin's revision is due first).
    let frozen = crate::api::closing::frozen_panel(&state, &month.to_string())
        .await
        .map_err(|_| QualityError::Database)?;
    if let (Some((mut stored, closed)), None) = (frozen.clone(), download) {
        stored["closed"] = closed;
        return Ok(Json(stored).into_response());
    }
    let (panel, cx, (from, to)) = month_panel(&state, month).await?;
    let mut closed_note = None;
    if let Some((stored, closed)) = frozen {
        if serde_json::to_value(&panel).ok().as_ref() != Some(&stored) {
            return Err(QualityError::Conflict(
                "the month is closed and its figures changed since: a revision is due (POST /api/reports/close)",
            ));
        }
        closed_note = closed["label"].as_str().map(str::to_owned);
    }
    Ok(match download {
        None => Json(panel).into_response(),
        Some(format) => {
            let mut head = crate::api::reports::report_header(&cx, &from, &to, false);
            head.notes
                .extend(closed_note.map(|l| ("Fechamento".to_owned(), l)));
            let stem = format!("painel-contrato-{}", panel.month);
            crate::api::reports::download(&panel_table(&panel), head, format, &stem).await
        }
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct PanelParams {
    format: Option<String>,
}

/// The contract panel of `month` with the report context and the month's first and last
/// day. The figures are the whole operation's, not a supervisor's scope.
pub(crate) async fn month_panel(
    state: &ApiState,
    month: Month,
) -> Result<(contract::Panel, ReportContext, (String, String)), QualityError> {
    let config = state.exchange.config();
    let contract = config
        .contract
        .contract()
        .map_err(|e| QualityError::Contract(e.to_string()))?;
    let key = month.to_string();
    let cx = ReportContext::for_config(&config).map_err(|e| {
        warn!(error = %e, "contract panel: no reporting time zone");
        QualityError::Database
    })?;
    let (from, to) = reports_read::month_bounds(&key)
        .map_err(|_| QualityError::BadRequest("month is YYYY-MM".into()))?;
    let report = reports_read::period_report(&state.store, &cx, &from, &to, &Queues::All)
        .await
        .map_err(|e| {
            warn!(error = %e, "contract panel: reading the month report failed");
            QualityError::Database
        })?;
    let evals = state.store.quality_evaluations(&key).await.map_err(db)?;
    let kpis = Kpis {
        imq: Some(summary(&evals).imq),
        ..report.total.kpis.contract_kpis()
    };
    let panel = contract::panel(&contract, month.first_day(), &kpis);
    Ok((panel, cx, (from, to)))
}

/// The panel as a typed table (for downloads and the monthly e-mail): one line per KPI
/// and the total discount.
pub(crate) fn panel_table(panel: &contract::Panel) -> Table {
    use crate::reports::table::Kind::*;
    let mut t = Table::new(
        "Painel do contrato",
        &[
            ("kpi", "Indicador", Text),
            ("label", "Nome", Text),
            ("numerator", "Numerador", Count),
            ("denominator", "Denominador", Count),
            ("value", "Valor", Text),
            ("target", "Meta", Text),
            ("met", "Meta cumprida", Text),
            ("band", "Faixa", Text),
            ("discount", "Desconto (%)", Percent),
            ("discount_value", "Desconto (R$)", Text),
        ],
    );
    let count = |v: Option<u64>| v.map(TCell::Count).unwrap_or(TCell::Empty);
    t.rows = panel
        .rows
        .iter()
        .map(|r| {
            vec![
                TCell::Text(r.kpi.code().to_owned()),
                TCell::Text(r.label.to_owned()),
                count(r.numerator),
                count(r.denominator),
                TCell::Text(r.value.clone()),
                TCell::Text(r.target.clone()),
                TCell::Text(
                    match r.met {
                        Some(true) => "sim",
                        Some(false) => "não",
                        None => "—",
                    }
                    .to_owned(),
                ),
                r.band.clone().map(TCell::Text).unwrap_or(TCell::Empty),
                TCell::Percent(f64::from(r.discount_bp) / 100.0),
                TCell::Text(contract::show_reais(r.discount_cents)),
            ]
        })
        .collect();
    t.rows.push(vec![
        TCell::Text("Total".to_owned()),
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Empty,
        TCell::Percent(f64::from(panel.total_discount_bp) / 100.0),
        TCell::Text(contract::show_reais(panel.total_discount_cents)),
    ]);
    t.notes = vec![
        format!("Mês: {}", panel.month),
        format!("Fatura: {}", contract::show_reais(panel.invoice_cents)),
    ];
    if panel.adaptation {
        t.notes
            .push("Período de adaptação: sem desconto neste mês".to_owned());
    }
    t
}
