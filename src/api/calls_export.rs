//! The per-call list as a file, unpaged: `GET /api/reports/calls?from=&to=&format=xlsx|ods|csv`
//! holds every call of the period (and filters), however many. Key-set pages of 1000 rows
//! are read from the database one after another and handed through a bounded channel to
//! the streaming writers (`crate::export`) on a blocking thread, so a month's list
//! (≈ 300 k rows) downloads in bounded memory: at most one page and the channel's rows are
//! held at a time. The file is written to a private temporary path, opened, unlinked, and
//! streamed; a database failure midway answers 503, never a short file. A call whose stored
//! record cannot be parsed keeps its row, marked `reports_read::UNREADABLE_LABEL`, and the
//! pages go on past it (their end is counted on the rows read).

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tracing::warn;

use super::ApiError;
use super::report_table::from_table;
use crate::export::{self, Format, Header, Row};
use crate::store::Store;
use crate::store::reports_read::{self, CallQuery, NumberView, ReadError, ReportContext};

/// Rows read per database page (the API's largest page).
const PAGE: i64 = 1000;
/// Rows waiting between the reader and the writer.
const CHANNEL_ROWS: usize = 2000;

/// Streams every call `query` selects (from its `after` on) as a `format` file `stem.ext`.
#[allow(clippy::too_many_arguments)] // one request's parts, passed through once
pub(super) async fn download_all(
    store: &Store,
    cx: &ReportContext,
    mut query: CallQuery,
    scope: Option<Vec<String>>,
    view: NumberView,
    header: Header,
    format: Format,
    stem: &str,
) -> Result<Response, ApiError> {
    query.limit = PAGE;
    // The columns and header block, from the same table the JSON's `format=table` gives.
    let first = reports_read::call_page(store, cx, &query, scope.clone(), view)
        .await
        .map_err(read_error)?;
    let table = reports_read::calls_table(&first);
    let (report, rows) = from_table(&table, header.clone(), &table.title);
    let path = std::env::temp_dir().join(format!(
        "atende-calls-{}-{}.{}",
        std::process::id(),
        rand::random::<u64>(),
        format.extension()
    ));
    let (tx, mut rx) = mpsc::channel::<Row>(CHANNEL_ROWS);
    let writer_path = path.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let rows = std::iter::from_fn(move || rx.blocking_recv());
        let done = export::write(format, &report, rows, &writer_path)
            .map_err(|e| e.to_string())
            .and_then(|_| std::fs::File::open(&writer_path).map_err(|e| e.to_string()));
        let _ = std::fs::remove_file(&writer_path);
        done
    });
    // The reader: this page, then the next ones, into the channel.
    let reader = async move {
        let mut next = first.next.clone();
        let mut unreadable = first.unreadable.len();
        for row in rows {
            tx.send(row).await.map_err(|_| "the file writer stopped")?;
        }
        while let Some(after) = next.take() {
            query.after = Some(after);
            let page = reports_read::call_page(store, cx, &query, scope.clone(), view)
                .await
                .map_err(|e| {
                    warn!(error = %e, "reports: reading the per-call list failed midway");
                    "reading failed"
                })?;
            next = page.next.clone();
            unreadable += page.unreadable.len();
            let (_, rows) = from_table(&reports_read::calls_table(&page), header.clone(), "");
            for row in rows {
                tx.send(row).await.map_err(|_| "the file writer stopped")?;
            }
        }
        if unreadable > 0 {
            // Each is logged with its protocol where it was read; this says the file has them.
            warn!(
                unreadable,
                "reports: per-call download holds calls whose record is unreadable (marked in their rows)"
            );
        }
        Ok::<(), &'static str>(())
    };
    let read = reader.await;
    let file = writer.await.map_err(|e| e.to_string()).and_then(|r| r);
    let file = match (read, file) {
        (Ok(()), Ok(f)) => tokio::fs::File::from_std(f),
        (Err(e), _) => {
            warn!(error = e, "reports: per-call download abandoned");
            return Err(ApiError::Database);
        }
        (_, Err(e)) => {
            warn!(error = %e, "reports: writing the per-call download failed");
            return Err(ApiError::Database);
        }
    };
    let headers = [
        (header::CONTENT_TYPE, format.mime_type().to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{stem}.{}\"", format.extension()),
        ),
    ];
    Ok((
        headers,
        Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}

fn read_error(e: ReadError) -> ApiError {
    match e {
        ReadError::Period(_) => ApiError::BadRequest("bad period (YYYY-MM-DD, ≤ 366 days)"),
        ReadError::Store(e) => {
            warn!(error = %e, "reports: reading the per-call list failed");
            ApiError::Database
        }
    }
}
