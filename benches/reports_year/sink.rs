//! Where the year benchmark's generated rows go: SQLite in multi-row inserts, one
//! transaction a day; PostgreSQL by `COPY` in its text format.

use std::collections::BTreeMap;

use atende::reports::fact::AgentPart;
use atende::reports::{CallFact, SlotStats, Slotter};

/// Rows per multi-row INSERT into SQLite (8 columns each, under its 32,766 variables).
const SQLITE_ROWS: usize = 500;

/// Where the generated rows go: SQLite one transaction per day; PostgreSQL one `COPY`
/// per table every `PG_BUFFER` bytes (a `COPY` a day waits on TCP's delayed ACK).
pub enum Sink {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection, [String; 3]),
}

const PG_BUFFER: usize = 32 << 20;

pub type SlotMap = BTreeMap<(i64, String), SlotStats>;

impl Sink {
    pub async fn open(db: &str, url: &str) -> Sink {
        use sqlx::Connection;
        match db {
            "sqlite" => {
                let mut c = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
                sqlx::query("PRAGMA synchronous = OFF")
                    .execute(&mut c)
                    .await
                    .expect("pragma");
                Sink::Sqlite(c)
            }
            _ => Sink::Postgres(
                sqlx::PgConnection::connect(url).await.expect("postgres"),
                Default::default(),
            ),
        }
    }

    pub async fn day(
        &mut self,
        date: &str,
        slotter: &Slotter,
        facts: &[CallFact],
        slots: &SlotMap,
    ) {
        let json: Vec<String> = facts
            .iter()
            .map(|f| serde_json::to_string(f).expect("fact"))
            .collect();
        match self {
            Sink::Sqlite(c) => {
                sqlite_day(c, date, slotter, facts, &json, slots).await;
            }
            Sink::Postgres(c, rows) => {
                pg_day(rows, date, slotter, facts, &json, slots);
                if rows[0].len() > PG_BUFFER {
                    pg_copy(c, rows).await;
                }
            }
        }
    }

    pub async fn finish(self) {
        match self {
            Sink::Sqlite(mut c) => {
                sqlx::query("ANALYZE")
                    .execute(&mut c)
                    .await
                    .expect("analyze");
            }
            Sink::Postgres(mut c, mut rows) => {
                pg_copy(&mut c, &mut rows).await;
                sqlx::query("ANALYZE")
                    .execute(&mut c)
                    .await
                    .expect("analyze");
            }
        }
    }
}

fn slot_row(slotter: &Slotter, start: i64) -> (String, i64) {
    let k = slotter.slot(start);
    (k.date, i64::from(k.index))
}

async fn sqlite_day(
    c: &mut sqlx::SqliteConnection,
    date: &str,
    slotter: &Slotter,
    facts: &[CallFact],
    json: &[String],
    slots: &SlotMap,
) {
    use sqlx::Connection;
    let mut tx = c.begin().await.expect("begin");
    for (chunk, js) in facts.chunks(SQLITE_ROWS).zip(json.chunks(SQLITE_ROWS)) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO call_facts (protocol, arrived_ms, slot_start_ms, local_date, queue, \
             outcome, first_agent, fact) ",
        );
        qb.push_values(chunk.iter().zip(js), |mut b, (f, j)| {
            b.push_bind(f.protocol.clone())
                .push_bind(f.arrived_ms)
                .push_bind(f.arrived_ms.div_euclid(1_800_000) * 1_800_000)
                .push_bind(date.to_owned())
                .push_bind(f.queue.clone())
                .push_bind(f.outcome.as_str())
                .push_bind(f.first_agent().map(str::to_owned))
                .push_bind(j.clone());
        });
        qb.build().execute(&mut *tx).await.expect("facts");
        let parts: Vec<(&CallFact, &AgentPart)> = chunk
            .iter()
            .flat_map(|f| f.agents.iter().map(move |a| (f, a)))
            .collect();
        if !parts.is_empty() {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO report_call_agents (protocol, agent, local_date, answered_ms, talk_ms) ",
            );
            qb.push_values(parts, |mut b, (f, a)| {
                b.push_bind(f.protocol.clone())
                    .push_bind(a.agent.clone())
                    .push_bind(date.to_owned())
                    .push_bind(a.answered_ms)
                    .push_bind(a.talk_ms);
            });
            qb.build().execute(&mut *tx).await.expect("agents");
        }
    }
    if !slots.is_empty() {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO report_slots (slot_start_ms, queue, local_date, slot_index, stats) ",
        );
        qb.push_values(slots, |mut b, ((start, q), s)| {
            let (d, i) = slot_row(slotter, *start);
            b.push_bind(*start)
                .push_bind(q.clone())
                .push_bind(d)
                .push_bind(i)
                .push_bind(serde_json::to_string(s).expect("stats"));
        });
        qb.build().execute(&mut *tx).await.expect("slots");
    }
    tx.commit().await.expect("commit");
}

/// COPY's text format: backslash, tab and line ends escaped; `\N` is NULL.
fn copy_field(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("\\N"),
        Some(s) => {
            for ch in s.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

fn copy_line(out: &mut String, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        copy_field(out, *f);
    }
    out.push('\n');
}

async fn copy(c: &mut sqlx::PgConnection, statement: &str, data: String) {
    let mut copy = c.copy_in_raw(statement).await.expect("COPY");
    copy.send(data.into_bytes()).await.expect("COPY data");
    copy.finish().await.expect("COPY end");
}

/// Appends a day's rows to the `COPY` buffers: facts, agents' parts, intervals.
fn pg_day(
    rows: &mut [String; 3],
    date: &str,
    slotter: &Slotter,
    facts: &[CallFact],
    json: &[String],
    slots: &SlotMap,
) {
    let [f_rows, a_rows, s_rows] = rows;
    for (f, j) in facts.iter().zip(json) {
        let arrived = f.arrived_ms.to_string();
        let slot = (f.arrived_ms.div_euclid(1_800_000) * 1_800_000).to_string();
        copy_line(
            f_rows,
            &[
                Some(&f.protocol),
                Some(&arrived),
                Some(&slot),
                Some(date),
                f.queue.as_deref(),
                Some(f.outcome.as_str()),
                f.first_agent(),
                Some(j),
            ],
        );
        for a in &f.agents {
            copy_line(
                a_rows,
                &[
                    Some(&f.protocol),
                    Some(&a.agent),
                    Some(date),
                    Some(&a.answered_ms.to_string()),
                    Some(&a.talk_ms.to_string()),
                ],
            );
        }
    }
    for ((start, q), s) in slots {
        let (d, i) = slot_row(slotter, *start);
        copy_line(
            s_rows,
            &[
                Some(&start.to_string()),
                Some(q),
                Some(&d),
                Some(&i.to_string()),
                Some(&serde_json::to_string(s).expect("stats")),
            ],
        );
    }
}

/// Sends the buffered rows, one `COPY` per table.
async fn pg_copy(c: &mut sqlx::PgConnection, rows: &mut [String; 3]) {
    let statements = [
        "COPY call_facts (protocol, arrived_ms, slot_start_ms, local_date, queue, outcome, \
         first_agent, fact) FROM STDIN",
        "COPY report_call_agents (protocol, agent, local_date, answered_ms, talk_ms) FROM STDIN",
        "COPY report_slots (slot_start_ms, queue, local_date, slot_index, stats) FROM STDIN",
    ];
    for (statement, data) in statements.into_iter().zip(rows.iter_mut()) {
        if !data.is_empty() {
            copy(c, statement, std::mem::take(data)).await;
        }
    }
}
