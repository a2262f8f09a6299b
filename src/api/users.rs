//! The admin's `/api/users` (list with each user's last login, add, change: role, scope,
//! agent, password, disable and enable) and the audit log `/api/audit` for admins and
//! auditors: the newest entries, narrowed by action, user and period, paged by id, with
//! the server's last verification of the hash chain (kept by `crate::audit::chain`, not
//! walked per request); `POST /api/audit/verify` walks it in full now (audited).
//!
//! Every change is written to the audit log by `crate::users::Accounts`; a refused role
//! is a 403 written there by `auth::require`. No answer carries a password hash.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tracing::warn;

use super::auth::{Auth, error, require};
use crate::audit::chain::ChainError;
use crate::store::audit::AuditFilter;
use crate::users::accounts::{AccountChange, AccountError};
use crate::users::{NewAccount, Principal, Role};

/// `/users…` (admins) and `/audit` (admins and auditors), with their role checks.
pub fn routes<S: Clone + Send + Sync + 'static>(auth: Auth) -> Router<S> {
    let users = Router::new()
        .route("/users", get(list_users).post(add_user))
        .route("/users/{name}", patch(change_user))
        .with_state(auth.clone());
    let audit = Router::new()
        .route("/audit", get(audit_log))
        .route("/audit/verify", post(verify_chain))
        .with_state(auth.clone());
    require(users, &auth, &[Role::Admin]).merge(require(
        audit,
        &auth,
        &[Role::Admin, Role::Auditor],
    ))
}

fn account_error(e: AccountError) -> Response {
    match e {
        AccountError::Store(s) => {
            warn!(error = %s, "users: database unavailable");
            error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        AccountError::Hash => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot hash the password",
        ),
        AccountError::Busy => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        AccountError::NoSuchUser(_) => error(StatusCode::NOT_FOUND, &e.to_string()),
        AccountError::Exists(_) => error(StatusCode::CONFLICT, &e.to_string()),
        _ => error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

async fn list_users(State(auth): State<Auth>) -> Response {
    let accounts = auth.sessions.accounts();
    let list = match accounts.list().await {
        Ok(list) => list,
        Err(e) => return account_error(e),
    };
    // The last login is the newest `login` entry of the audit log (sessions are deleted
    // at logout, the log keeps them); unknown when the log cannot be read.
    let last: HashMap<String, i64> = match accounts.store().audit_last_by_actor("login").await {
        Ok(rows) => rows.into_iter().collect(),
        Err(e) => {
            warn!(error = %e, "users: cannot read the last logins");
            HashMap::new()
        }
    };
    let rows: Vec<serde_json::Value> = list
        .into_iter()
        .map(|a| {
            let last_login_ms = last.get(&a.name).copied();
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("last_login_ms".into(), last_login_ms.into());
            }
            v
        })
        .collect();
    Json(rows).into_response()
}

/// A 422 naming the teams the config in force does not have, if any.
fn unknown_teams(auth: &Auth, teams: &[String]) -> Option<Response> {
    let config = auth.sessions.config()?;
    let unknown = config.unknown_teams(teams);
    (!unknown.is_empty()).then(|| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "team(s) not in the config's [teams]: {}",
                unknown.join(", ")
            ),
        )
    })
}

/// A 422 naming an agent or queues the config in force does not have (a typo in the
/// admin page would link a user to nobody). A config listing no agents (or no queues)
/// checks none: the scope is then only names, as the CLI writes them.
fn unknown_scope(auth: &Auth, agent: Option<&str>, queues: &[String]) -> Option<Response> {
    let config = auth.sessions.config()?;
    if let Some(a) = agent.filter(|a| !a.is_empty())
        && !config.agents.is_empty()
        && !config.agents.iter().any(|x| x.id == a)
    {
        return Some(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("agent not in the config's [[agents]]: {a}"),
        ));
    }
    let unknown: Vec<&str> = queues
        .iter()
        .filter(|q| !config.queues.is_empty() && !config.queues.iter().any(|x| x.id.as_str() == *q))
        .map(String::as_str)
        .collect();
    (!unknown.is_empty()).then(|| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "queue(s) not in the config's [[queues]]: {}",
                unknown.join(", ")
            ),
        )
    })
}

async fn add_user(
    State(auth): State<Auth>,
    Extension(p): Extension<Principal>,
    Json(new): Json<NewAccount>,
) -> Response {
    if let Some(refused) = unknown_teams(&auth, &new.teams)
        .or_else(|| unknown_scope(&auth, new.agent.as_deref(), &new.queues))
    {
        return refused;
    }
    match auth.sessions.accounts().add(&p.user, new).await {
        Ok(a) => (StatusCode::CREATED, Json(a)).into_response(),
        Err(e) => account_error(e),
    }
}

async fn change_user(
    State(auth): State<Auth>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Json(change): Json<AccountChange>,
) -> Response {
    if let Some(refused) = unknown_teams(&auth, change.teams.as_deref().unwrap_or_default())
        .or_else(|| {
            unknown_scope(
                &auth,
                change.agent.as_deref(),
                change.queues.as_deref().unwrap_or_default(),
            )
        })
    {
        return refused;
    }
    match auth
        .sessions
        .accounts()
        .change(&p.user, &name, change)
        .await
    {
        Ok(a) => Json(a).into_response(),
        Err(e) => account_error(e),
    }
}

/// Largest page of the audit log.
const MAX_AUDIT_PAGE: i64 = 10_000;

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<i64>,
    /// Exact action: `login`, `user.add`, `denied`…
    action: Option<String>,
    /// Who did it or whom it was done to.
    user: Option<String>,
    /// From this instant (UTC ms, inclusive).
    from_ms: Option<i64>,
    /// Up to this instant (UTC ms, exclusive).
    to_ms: Option<i64>,
    /// Entries older than this id: the `next` of the previous page.
    before: Option<i64>,
}

async fn audit_log(State(auth): State<Auth>, Query(q): Query<AuditQuery>) -> Response {
    let audit = auth.sessions.accounts().audit();
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_AUDIT_PAGE);
    if let (Some(f), Some(t)) = (q.from_ms, q.to_ms)
        && f > t
    {
        return error(StatusCode::BAD_REQUEST, "from_ms is after to_ms");
    }
    let filter = AuditFilter {
        action: q.action.unwrap_or_default().trim().to_owned(),
        user: q.user.unwrap_or_default().trim().to_owned(),
        from_ms: q.from_ms,
        to_ms: q.to_ms,
        before: q.before,
    };
    // One more than asked tells whether there is a next page.
    let page = auth
        .sessions
        .accounts()
        .store()
        .audit_page(&filter, limit + 1)
        .await;
    // The kept result (null until the start-up walk ended): never a walk per page.
    let verify = audit.kept_check();
    match page {
        Ok(mut entries) => {
            let more = entries.len() as i64 > limit;
            entries.truncate(limit as usize);
            let next = if more {
                entries.last().map(|e| e.id)
            } else {
                None
            };
            Json(serde_json::json!({ "entries": entries, "verify": verify, "next": next }))
                .into_response()
        }
        Err(e) => {
            warn!(error = %e, "audit: database unavailable");
            error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Walks the whole chain now (or joins the walk running) and answers its result, which
/// becomes the kept one; the request is itself audited (`audit.verify`, with the result).
async fn verify_chain(State(auth): State<Auth>, Extension(p): Extension<Principal>) -> Response {
    let audit = auth.sessions.accounts().audit();
    match audit.verify_now().await {
        Ok(check) => {
            let detail = match check.broken_at {
                None => format!("ok: {} registros", check.rows),
                Some(id) => format!("rompida no registro {id}"),
            };
            audit
                .record(&p.user, "audit.verify", "audit_log", &detail)
                .await;
            Json(check).into_response()
        }
        Err(e) => {
            warn!(error = %e, "audit: chain not verified");
            audit
                .record(&p.user, "audit.verify", "audit_log", "falhou")
                .await;
            match e {
                ChainError::Store(_) | ChainError::NotRunning => {
                    error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
                }
            }
        }
    }
}
