//! The per-call list as a supervisor pages it: the calls of other queues never shorten a
//! page, so the list (and the export that reads it page by page) ends only after the
//! supervisor's last call; a call whose stored record cannot be parsed keeps its place
//! (marked unreadable) and does not end the list early.

use crate::reports::table::Cell;
use crate::reports::{Definitions, Outcome, Slotter, project};
use crate::store::reports_read::{
    CallQuery, NumberView, ReportContext, UNREADABLE_LABEL, call_page, calls_table,
};
use crate::store::testing::{TestDb, both_backends};

/// 1 December 2026, 09:00 UTC.
const NINE: i64 = 1_796_115_600_000;

async fn store_fact(db: &TestDb, protocol: &str, arrived_ms: i64, queue: &str) {
    let mut fact = project(protocol, &[], 0);
    fact.arrived_ms = arrived_ms;
    fact.queue = Some(queue.to_owned());
    fact.outcome = Outcome::HumanAnswered;
    let json = serde_json::to_string(&fact).expect("a fact serializes");
    on_pool!(db.store, pool => {
        sqlx::query(
            "INSERT INTO call_facts (protocol, arrived_ms, slot_start_ms, local_date, queue, \
             outcome, first_agent, fact) VALUES ($1, $2, $2, '2026-12-01', $3, $4, NULL, $5)",
        )
        .bind(protocol)
        .bind(arrived_ms)
        .bind(queue)
        .bind(fact.outcome.as_str())
        .bind(&json)
        .execute(pool)
        .await
        .expect("fact stored");
    });
}

/// The reports' context in UTC and the query of 1 December 2026 in pages of 2.
fn day_in_pages_of_two() -> (ReportContext, CallQuery) {
    let cx = ReportContext {
        definitions: Definitions::default(),
        slotter: Slotter::named("UTC").expect("UTC"),
    };
    let q = CallQuery {
        from: "2026-12-01".into(),
        to: "2026-12-01".into(),
        limit: 2,
        ..CallQuery::default()
    };
    (cx, q)
}

both_backends!(a_supervisors_pages_reach_their_last_call, supervisors_pages);
async fn supervisors_pages(db: TestDb) {
    // Seven calls of another queue first, then the supervisor's calls between more of
    // them: with pages of 2, the first pages hold none of the supervisor's calls.
    let mut theirs = Vec::new();
    for i in 0..22i64 {
        let protocol = format!("2026120100{i:02}");
        let queue = if i >= 7 && i % 3 == 0 {
            "sac"
        } else {
            "ouvidoria"
        };
        store_fact(&db, &protocol, NINE + i * 60_000, queue).await;
        if queue == "sac" {
            theirs.push(protocol);
        }
    }
    assert_eq!(theirs.len(), 5);
    let (cx, mut q) = day_in_pages_of_two();
    let mut seen = Vec::new();
    for _ in 0..30 {
        let page = call_page(
            &db.store,
            &cx,
            &q,
            Some(vec!["sac".to_owned()]),
            NumberView::LastFour,
        )
        .await
        .expect("a page");
        seen.extend(page.calls.iter().map(|c| c.protocol.clone()));
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen, theirs,
        "the supervisor's list has every call of their queue"
    );

    // The whole floor (no scope) still pages through all 22 calls.
    q.after = None;
    let mut all = 0;
    for _ in 0..30 {
        let page = call_page(&db.store, &cx, &q, None, NumberView::Full)
            .await
            .expect("a page");
        all += page.calls.len();
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(all, 22);

    // A supervisor of no queue sees no call.
    q.after = None;
    let none = call_page(&db.store, &cx, &q, Some(Vec::new()), NumberView::LastFour)
        .await
        .expect("a page");
    assert!(none.calls.is_empty() && none.next.is_none());
}

both_backends!(
    an_unreadable_call_record_is_listed_and_does_not_end_the_list,
    unreadable_row
);
async fn unreadable_row(db: TestDb) {
    for i in 1..=5i64 {
        store_fact(&db, &format!("202612010{i}"), NINE + i * 60_000, "sac").await;
    }
    // The second call's record is damaged (a half-written JSON).
    on_pool!(db.store, pool => {
        sqlx::query("UPDATE call_facts SET fact = '{\"protocol\": \"2026' WHERE protocol = $1")
            .bind("2026120102")
            .execute(pool)
            .await
            .expect("fact damaged");
    });
    let (cx, mut q) = day_in_pages_of_two();
    let first = call_page(&db.store, &cx, &q, None, NumberView::Full)
        .await
        .expect("a page");
    // Page 1 read two rows, one unreadable: it is full, so more follow.
    let listed: Vec<&str> = first.calls.iter().map(|c| c.protocol.as_str()).collect();
    assert_eq!(listed, ["2026120101"]);
    let bad: Vec<(&str, &str)> = first
        .unreadable
        .iter()
        .map(|u| (u.protocol.as_str(), u.time.as_str()))
        .collect();
    assert_eq!(bad, [("2026120102", "09:02:00")]);
    assert_eq!(first.next.as_deref(), Some("1796115720000:2026120102"));
    // The table (and so the files) keeps the unreadable call in its place, marked.
    let table = calls_table(&first);
    let cells =
        |row: &Vec<Cell>| -> Vec<Cell> { [3usize, 12].iter().map(|i| row[*i].clone()).collect() };
    assert_eq!(table.rows.len(), 2);
    assert_eq!(
        cells(&table.rows[1]),
        [
            Cell::Text("2026120102".into()),
            Cell::Text(UNREADABLE_LABEL.into())
        ]
    );
    assert_eq!(table.rows[1][1], Cell::Time("09:02:00".into()));
    assert_eq!(table.rows[1][7], Cell::Empty);

    // The rest of the list follows on the next pages.
    let mut seen = listed.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    q.after = first.next.clone();
    for _ in 0..10 {
        let page = call_page(&db.store, &cx, &q, None, NumberView::Full)
            .await
            .expect("a page");
        assert!(page.unreadable.is_empty());
        seen.extend(page.calls.iter().map(|c| c.protocol.clone()));
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["2026120101", "2026120103", "2026120104", "2026120105"]
    );
}
