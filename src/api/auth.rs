//! Who is calling the API, and may they: the login/logout/me/ticket routes, the session
//! layer every other `/api` route sits behind (`authenticate`), the per-router role
//! check (`require`, every refusal a 403 written to the audit log). The admin's
//! `/api/users` and the audit log are `super::users`.
//!
//! The session travels only in the `atende_session` cookie (HttpOnly, SameSite=Strict,
//! Secure under HTTPS); no token is accepted in a header or URL.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tracing::warn;

use crate::users::accounts::AccountError;
use crate::users::sessions::{COOKIE, from_cookie_header};
use crate::users::{AuthError, LoginError, Principal, Role, Sessions};

/// What the auth routes and layers need. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth {
    pub sessions: Sessions,
    /// Mark the cookie `Secure` (the server listens in HTTPS).
    pub secure_cookie: bool,
}

impl Auth {
    /// The server's sessions on `store`, the config's `[[users]]` seeded first.
    pub async fn start(
        store: crate::store::Store,
        http: &crate::config::HttpConfig,
        seeds: &[crate::users::accounts::UserSeed],
    ) -> Result<Auth, AccountError> {
        let audit = crate::audit::Audit::new(store.clone());
        let accounts = crate::users::Accounts::new(store, audit);
        accounts.seed(seeds).await?;
        let sessions = Sessions::new(
            accounts,
            crate::users::SessionSettings {
                idle: std::time::Duration::from_secs(http.session_idle_secs),
                max: std::time::Duration::from_secs(http.session_max_secs),
            },
        );
        let sweeper = sessions.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                if let Err(e) = sweeper.sweep().await {
                    warn!(error = %e, "cannot drop expired sessions");
                }
            }
        });
        Ok(Auth {
            sessions,
            secure_cookie: http.tls_cert.is_some(),
        })
    }
}

/// Largest login body read.
const MAX_LOGIN_BODY: usize = 8 * 1024;

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = match self {
            AuthError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        let code = match self {
            AuthError::Missing => "missing",
            AuthError::Bad => "bad",
            AuthError::Expired => "expired",
            AuthError::Store(_) => "unavailable",
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string(), "code": code })),
        )
            .into_response()
    }
}

/// The routes open without a session: `POST /login`.
pub fn login_routes<S: Clone + Send + Sync + 'static>(auth: Auth) -> Router<S> {
    Router::new().route("/login", post(login)).with_state(auth)
}

/// The routes of one's own session (any role): logout, me, a CTI ticket.
pub fn session_routes<S: Clone + Send + Sync + 'static>(auth: Auth) -> Router<S> {
    Router::new()
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/cti/ticket", post(ticket))
        .with_state(auth)
}

/// `routes` behind the session cookie: the `Principal` is in the request's extensions.
pub fn authenticated<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    auth: &Auth,
) -> Router<S> {
    routes.route_layer(middleware::from_fn_with_state(auth.clone(), authenticate))
}

/// `routes` only for `roles` (inside `authenticated`).
pub fn require<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    auth: &Auth,
    roles: &'static [Role],
) -> Router<S> {
    routes.route_layer(middleware::from_fn_with_state(
        (auth.clone(), roles),
        check_role,
    ))
}

/// What a handler under `audited` adds to its audit entry after the status (put in the
/// response's extensions): a config reload's list of changes or every problem of a
/// refused one, as SIGHUP's entries have. Names only, never secrets.
#[derive(Clone, Debug)]
pub struct AuditNote(pub String);

/// `routes` with every change (any method but GET/HEAD) written to the audit log with
/// its outcome: config and IVR reloads, the emergency switch, prompt uploads.
pub fn audited<S: Clone + Send + Sync + 'static>(routes: Router<S>, auth: &Auth) -> Router<S> {
    routes.route_layer(middleware::from_fn_with_state(auth.clone(), audit_change))
}

async fn audit_change(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        return next.run(req).await;
    }
    let user = req
        .extensions()
        .get::<Principal>()
        .map_or_else(|| "?".to_owned(), |p| p.user.clone());
    let target = format!("{method} {}", full_path(&req));
    let resp = next.run(req).await;
    let action = match target.as_str() {
        "POST /api/config/reload" => "config.reload",
        t if t.ends_with("/ivr/reload") => "ivr.reload",
        _ => "api.change",
    };
    let mut detail = format!("status={}", resp.status().as_u16());
    if let Some(AuditNote(note)) = resp.extensions().get::<AuditNote>() {
        detail.push(' ');
        detail.push_str(note);
    }
    auth.sessions
        .accounts()
        .audit()
        .record(&user, action, &target, &detail)
        .await;
    resp
}

/// `routes` as an authenticated router for `roles`: the session layer and the role check.
pub fn guarded<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    auth: &Auth,
    roles: &'static [Role],
) -> Router<S> {
    authenticated(require(routes, auth, roles), auth)
}

/// The request's path as the client sent it (a nested router sees it without `/api`).
fn full_path(req: &Request) -> String {
    req.extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_owned(), |u| u.path().to_owned())
}

fn session_id(headers: &HeaderMap) -> &str {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(from_cookie_header)
        .unwrap_or("")
}

async fn authenticate(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let id = session_id(req.headers()).to_owned();
    match auth.sessions.principal(&id).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => {
            if let AuthError::Store(s) = &e {
                warn!(error = %s, "cannot read sessions");
            }
            e.into_response()
        }
    }
}

async fn check_role(
    State((auth, roles)): State<(Auth, &'static [Role])>,
    req: Request,
    next: Next,
) -> Response {
    let Some(p) = req.extensions().get::<Principal>().cloned() else {
        return AuthError::Missing.into_response();
    };
    if roles.contains(&p.role) {
        return next.run(req).await;
    }
    denied(&auth, &p, req.method(), &full_path(&req)).await
}

/// Writes a refusal outside the role layer (a record out of the user's scope) to the
/// audit log and the server log; the caller answers 403.
pub async fn record_denied(auth: &Auth, p: &Principal, target: &str, why: &str) {
    warn!(user = %p.user, role = %p.role, target, why, "request refused");
    auth.sessions
        .accounts()
        .audit()
        .record(&p.user, "denied", target, why)
        .await;
}

/// A 403 for `p`, written to the audit log and the server log.
pub async fn denied(auth: &Auth, p: &Principal, method: &Method, path: &str) -> Response {
    warn!(user = %p.user, role = %p.role, %method, path, "request refused: role not allowed");
    auth.sessions
        .accounts()
        .audit()
        .record(
            &p.user,
            "denied",
            &format!("{method} {path}"),
            &format!("role={}", p.role),
        )
        .await;
    error(StatusCode::FORBIDDEN, "your role may not do this")
}

#[derive(Deserialize)]
struct Credentials {
    user: String,
    password: String,
}

fn source_of(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn session_cookie(auth: &Auth, value: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if auth.secure_cookie { "; Secure" } else { "" };
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    let text = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/{secure}{age}");
    // Built from hex and fixed ASCII only.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("atende_session=; Path=/"))
}

async fn login(State(auth): State<Auth>, req: Request) -> Response {
    let source = source_of(&req);
    let Ok(body) = axum::body::to_bytes(req.into_body(), MAX_LOGIN_BODY).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "login body too large");
    };
    let Ok(c) = serde_json::from_slice::<Credentials>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected JSON {\"user\": …, \"password\": …}",
        );
    };
    match auth.sessions.login(&c.user, &c.password, source).await {
        Ok((id, _)) => {
            let max = auth.sessions.settings().max.as_secs();
            (
                StatusCode::NO_CONTENT,
                [(header::SET_COOKIE, session_cookie(&auth, &id, Some(max)))],
            )
                .into_response()
        }
        Err(LoginError::Refused) => error(StatusCode::UNAUTHORIZED, "wrong user or password"),
        Err(LoginError::Limited(wait)) => {
            let secs = wait.as_secs().max(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, secs.to_string())],
                Json(serde_json::json!({ "error": "too many failed logins; try again later" })),
            )
                .into_response()
        }
        Err(LoginError::Store(e)) => {
            warn!(error = %e, "login: database unavailable");
            error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(LoginError::Busy) => {
            warn!(%source, "login refused: too many logins waiting for a password check");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, BUSY_RETRY_SECS.to_string())],
                Json(serde_json::json!({ "error": "too many logins at once; try again in a few seconds" })),
            )
                .into_response()
        }
    }
}

/// What a login refused for a full line of password checks is told to wait.
const BUSY_RETRY_SECS: u64 = 5;

async fn logout(State(auth): State<Auth>, Extension(p): Extension<Principal>) -> Response {
    if let Err(e) = auth.sessions.logout(&p).await {
        warn!(error = %e, "logout: database unavailable");
        return error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(&auth, "", Some(0)))],
    )
        .into_response()
}

async fn me(State(auth): State<Auth>, Extension(p): Extension<Principal>) -> Response {
    let display = match auth.sessions.accounts().get(&p.user).await {
        Ok(a) => a.map_or(p.user.clone(), |a| a.display_name),
        Err(_) => p.user.clone(),
    };
    // The user's teams with the name users are shown (the key when the config has none):
    // those of their scope, then those their ACD agent is in (an agent's desktop shows
    // its team, and its group figures are the team's).
    let config = auth.sessions.config();
    let mut keys: Vec<&String> = p.teams.iter().collect();
    if let (Some(c), Some(agent)) = (config.as_ref(), p.agent.as_deref()) {
        for (key, t) in &c.teams {
            if t.agents.iter().any(|a| a == agent) && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let teams: Vec<serde_json::Value> = keys
        .into_iter()
        .map(|t| {
            let name = config
                .as_ref()
                .and_then(|c| c.teams.get(t))
                .map_or(t.as_str(), |x| x.name.as_str());
            serde_json::json!({ "team": t, "name": name })
        })
        .collect();
    // The teams the user may pick in the reports' and the wallboard's filters.
    let choices: Vec<serde_json::Value> = config.as_ref().map_or_else(Vec::new, |c| {
        super::reports::team_filter(&p, c)
            .into_iter()
            .map(|(key, t)| serde_json::json!({ "team": key, "name": t.name }))
            .collect()
    });
    Json(serde_json::json!({
        "user": p.user,
        "display_name": display,
        "role": p.role,
        "agent": p.agent,
        "queues": p.queues,
        "teams": teams,
        "team_choices": choices,
        "agents": p.agents,
    }))
    .into_response()
}

async fn ticket(State(auth): State<Auth>, Extension(p): Extension<Principal>) -> Response {
    Json(serde_json::json!({ "ticket": auth.sessions.ticket(&p) })).into_response()
}
