//! Assembles a running server from a config: store, event log, recordings, prompts, SIP,
//! HTTP — closing first what a crash left unfinished (`lifecycle::recovery`) and bringing
//! agents back as they were — and takes it down in order on shutdown: refuse new calls,
//! end every call and seal its recording (within `shutdown_timeout_secs`), flush the
//! event and agent logs, stop SIP and HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::dialog_layer::DialogLayer;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::floor::Floor;
use crate::ivr::LiveFlows;
use crate::media::prompt::PromptLibrary;
use crate::media::reactor::{MediaIo, MediaReactor};
use crate::media::recording::{RecordingConfig, RecordingService};
use crate::sip::exchange::Exchange;
use crate::sip::registrar::Registrar;
use crate::sip::server;
use crate::store::Store;
use crate::store::agent_log::AgentLog;
use crate::store::event_log::{EventLog, EventLogConfig};
use crate::store::protocol::ProtocolAllocator;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("prompts: {0}")]
    Prompts(#[from] crate::media::prompt::PromptError),
    #[error(transparent)]
    Media(#[from] crate::media::reactor::ReactorError),
    #[error("IVR flows: {0}")]
    Flows(#[from] crate::ivr::CheckErrors),
    /// Every problem `problems` found, one a line.
    #[error("{0}")]
    Checks(String),
    #[error("ACD: {0}")]
    Acd(#[from] crate::acd::AcdError),
    #[error("recording: {0}")]
    Recording(#[from] crate::media::recording::RecordingError),
    #[error("{0}")]
    Sip(#[from] server::SipServerError),
    #[error("{0}")]
    Http(#[from] crate::api::serve::ServeError),
    #[error("users: {0}")]
    Users(#[from] crate::users::AccountError),
    #[error("{0}")]
    Mail(#[from] crate::mail::MailError),
}

/// A started server; dropping it does not stop it, `shutdown` does.
pub struct Running {
    pub sip_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub exchange: Arc<Exchange>,
    /// The audit log (SIGHUP reloads are written to it).
    pub audit: crate::audit::Audit,
    cancel: CancellationToken,
    http: tokio::task::JoinHandle<()>,
    agent_log: Option<AgentLog>,
}

impl Running {
    /// The clean stop: new calls get 503, every call is ended by the system with cause
    /// `server_shutdown` (BYE on both legs) and its recording sealed, then the event and
    /// agent logs are flushed — all within `shutdown_timeout_secs`; what is left is
    /// logged. True when everything finished in time.
    pub async fn shutdown(self) -> bool {
        let ex = &self.exchange;
        let bound = Duration::from_secs(ex.config().shutdown_timeout_secs);
        let deadline = tokio::time::Instant::now() + bound;
        let calls = ex.active_calls();
        info!(
            calls,
            "stopping: new calls refused, calls in progress being ended"
        );
        ex.lifecycle.start_drain();
        let left = ex.lifecycle.wait_idle(bound).await;
        if left > 0 {
            warn!(
                calls_or_tasks = left,
                active_calls = ex.active_calls(),
                "stop bound reached: calls or recordings still unfinished (the next start closes them)"
            );
        }
        let logs = async {
            ex.event_log.flush().await;
            if let Some(log) = &self.agent_log {
                log.flush().await;
            }
        };
        let flushed = tokio::time::timeout_at(
            deadline.max(tokio::time::Instant::now() + Duration::from_secs(1)),
            logs,
        )
        .await
        .is_ok();
        if !flushed {
            warn!("stop bound reached before the event and agent logs were flushed");
        }
        self.cancel.cancel();
        self.http.abort();
        let clean = left == 0 && flushed;
        if clean {
            info!(calls, "stopped cleanly");
        }
        clean
    }
}

pub async fn start(config: Config) -> Result<Running, StartError> {
    let config = Arc::new(config);
    let dir = &config.recording.dir;
    std::fs::create_dir_all(dir).map_err(|source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    if let Some(path) = config.database.url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if let Some(parent) = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StartError::DataDir {
                path: parent.display().to_string(),
                source,
            })?;
        }
    }

    let store = Store::connect(&config.database.url).await?;
    let spill = config.recording.dir.join("..").join("events-spill.jsonl");
    let event_log = EventLog::spawn(
        store.clone(),
        EventLogConfig {
            spill_path: spill,
            ..EventLogConfig::default()
        },
    )
    .await?;
    // What the previous run left in the spill journal is in the database first, so the
    // calls it left open are seen whole.
    event_log.flush().await;
    let recovered = match crate::lifecycle::recovery::recover(&store).await {
        Ok(r) => r.calls,
        Err(e) => {
            tracing::error!(error = %e, "calls left unfinished by a crash could not be closed; the next start tries again");
            0
        }
    };
    // The one bus: call changes go to the event log first, then to live readers.
    let bus = crate::bus::Bus::new(Some(event_log.clone()));
    let protocols = ProtocolAllocator::new(store.last_protocol().await?);

    let prompts = Arc::new(PromptLibrary::load_dir(&config.prompts.dir)?);
    let flows = match &config.ivr {
        Some(ivr) => Some(Arc::new(LiveFlows::load(
            &ivr.dir,
            Some(&config.prompts.dir),
        )?)),
        None => None,
    };
    let (dialler_tx, dialler_rx) = tokio::sync::mpsc::channel(256);
    // The same list a reload and `atende check-config` run: every problem is named at once.
    let problems = crate::reload::start_problems(
        &config,
        &prompts,
        flows.as_ref().map(|f| f.current()).as_ref(),
    );
    if !problems.is_empty() {
        return Err(StartError::Checks(problems.join("\n")));
    }
    if let Some(flows) = &flows {
        flows.set_queues(config.queues.iter().map(|q| q.id.to_string()).collect());
    }
    let agent_log = (!config.queues.is_empty()).then(|| AgentLog::spawn(store.clone()));
    let acd = if config.queues.is_empty() {
        None
    } else {
        let restored = match crate::floor::callback_store::load(&store, &bus).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "pending callbacks could not be restored");
                None
            }
        };
        let ids: Vec<&str> = config.agents.iter().map(|a| a.id.as_str()).collect();
        let agent_states = match store.last_agent_states(&ids).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "agents' states before the restart could not be read; only auto_login agents are logged in");
                Vec::new()
            }
        };
        // A queue a supervisor closed by hand stays closed (and a priority given stays).
        let queue_overrides = match store.queue_overrides().await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "queue overrides before the restart could not be read; queues follow the config");
                Vec::new()
            }
        };
        Some(crate::floor::acd::spawn(
            config.engine_config(),
            &config.agents,
            crate::floor::acd::AcdShell {
                agent_log: agent_log.clone(),
                bus: Some(bus.clone()),
                dialler: Some(dialler_tx),
                saver: Some(crate::floor::callback_store::spawn_saver(store.clone())),
                restored,
                agent_states,
                queue_overrides,
                override_saver: Some(crate::floor::acd::overrides::spawn_saver(store.clone())),
            },
        )?)
    };
    let recordings = RecordingService::start(RecordingConfig {
        format: config.recording.format,
        ..RecordingConfig::default()
    })?;

    let cancel = CancellationToken::new();
    if let Some(mail) = &config.mail {
        // The projector's reports, the same the API serves.
        let source = Arc::new(crate::mail::ProjectorReports {
            store: store.clone(),
            config: config.clone(),
            to_file: api::report_table::from_table,
            panel_table: api::quality::panel_table,
        });
        crate::mail::spawn(
            mail,
            &config.timezone,
            store.clone(),
            source,
            cancel.clone(),
        )?;
    }
    let (endpoint, sip_addr) = server::bind(&config.sip, cancel.clone()).await?;
    let endpoint = Arc::new(endpoint);
    let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
    let registrar = Registrar::new(&config, rand::random());
    let media = MediaReactor::start_with(
        config.media.threads,
        std::time::Duration::from_millis(config.media.batch_ms),
        if config.media.io_uring {
            MediaIo::Uring
        } else {
            MediaIo::Epoll
        },
    )?;
    let floor = Arc::new(
        Floor::new(
            config.clone(),
            recordings,
            prompts,
            event_log,
            bus,
            protocols,
            media,
        )
        .with_flows(flows)
        .with_acd(acd),
    );
    let exchange = Exchange::new(floor.clone(), registrar, dialogs, sip_addr);
    exchange.lifecycle.set_recovered_calls(recovered);
    crate::ivr::watch::spawn(exchange.flows.clone(), cancel.clone());
    crate::sip::callback::spawn_dialler(exchange.clone(), dialler_rx);
    let users = prompt_users(&floor);
    let watcher_users = users.clone();
    crate::media::prompt_watch::spawn(
        exchange.prompts.clone(),
        Box::new(move |p| (watcher_users.0)(p)),
        cancel.clone(),
    );
    restore_emergency(&exchange, &store).await;
    crate::floor::agents::keep_seats(&store, &exchange.hot_desk).await;

    let ep = endpoint.clone();
    tokio::spawn(async move { ep.serve().await });
    tokio::spawn(server::dispatch(exchange.clone(), endpoint));

    // The reports' projector follows the bus (after the ACD, whose agent log it reads).
    match crate::store::reports_projector::Projector::for_config(store.clone(), &config) {
        Ok(p) => crate::projector::spawn(p, &floor.bus, agent_log.clone()),
        Err(e) => tracing::error!(error = %e, "reports: projector not started"),
    }
    // Alarms follow the running config ([alarms] may come and go with a reload).
    crate::alarm::spawn(floor.clone(), store.clone(), cancel.clone());
    let auth = api::Auth::start(store.clone(), &config.http, &config.users).await?;
    // The audit chain: walked in the background (start-up does not wait), kept, refreshed;
    // each result goes to the alarms (`audit_chain_broken`).
    auth.sessions.accounts().audit().watch_chain(
        |c| {
            crate::alarm::observe(crate::alarm::Observation::AuditChain {
                rows: c.rows,
                broken_at: c.broken_at,
            })
        },
        cancel.clone(),
    );
    // Users' teams resolve against the config in force (a reload may change them).
    let in_force = Arc::downgrade(&floor);
    auth.sessions
        .follow_config(crate::users::sessions::ConfigSource(Arc::new(move || {
            in_force.upgrade().map(|f| f.config())
        })));
    // Closed months: closes those past their grace and turns late changes into revisions.
    let closing_floor = floor.clone();
    tokio::spawn(crate::closing::run(
        move || closing_floor.config(),
        store.clone(),
        auth.sessions.accounts().audit().clone(),
        cancel.clone(),
    ));
    exchange.set_phone_users(auth.sessions.clone());
    // The CTI websocket over the real users, ACD, live calls and store.
    let cti = crate::cti::Hub::start(
        Arc::new(crate::cti::live::Live {
            floor: floor.clone(),
            store: store.clone(),
            sessions: auth.sessions.clone(),
            agent_log: agent_log.clone(),
            day: Default::default(),
        }),
        &floor.bus,
        crate::cti::HubSettings::new(&config.cti, config.http.allowed_origins.clone()),
    )
    .await;
    let audit = auth.sessions.accounts().audit().clone();
    let app = api::with_cti(
        api::router(ApiState {
            exchange: floor.clone(),
            ivr: api::IvrAdmin::from_exchange(&floor, &store).map(|a| a.with_in_use(users)),
            store,
            auth,
        }),
        cti,
    );
    let (http_addr, http) = api::serve::start(&config.http, app).await?;
    info!(%sip_addr, %http_addr, "atende is up");
    Ok(Running {
        sip_addr,
        http_addr,
        exchange,
        audit,
        cancel,
        http,
        agent_log,
    })
}

/// Who plays a prompt now: the flows of the running set, the emergency announcement, the
/// services' welcome and hold music and the surveys' prompts. A prompt file deleted by hand stays loaded while
/// any of them does, so no caller meets silence. Services and queues are read from the
/// config of the moment (it may have been reloaded).
fn prompt_users(exchange: &Arc<Floor>) -> api::PromptUsers {
    let flows = exchange.flows.clone();
    let announcements = exchange.announcements.clone();
    let ex = Arc::downgrade(exchange);
    let callback_prompts = crate::reload::callback_prompts();
    api::PromptUsers(Arc::new(move |prompt| {
        let config = ex.upgrade().map(|ex| ex.config());
        let services: Vec<(String, Vec<String>)> = config
            .iter()
            .flat_map(|c| c.services.iter())
            .map(|(name, svc)| {
                let prompts = svc.welcome_prompt.iter().chain([&svc.hold_music]);
                (name.clone(), prompts.cloned().collect())
            })
            .collect();
        let callback_queues: Vec<String> = config
            .iter()
            .flat_map(|c| c.queues.iter())
            .filter(|q| q.callback.key.is_some())
            .map(|q| q.id.to_string())
            .collect();
        let mut users = flows
            .as_ref()
            .map(|f| f.current().flows_needing(prompt))
            .unwrap_or_default();
        if announcements.emergency().as_deref() == Some(prompt) {
            users.push("the emergency announcement".to_owned());
        }
        for (service, prompts) in &services {
            if prompts.iter().any(|p| p == prompt) {
                users.push(format!("service {service}"));
            }
        }
        if callback_prompts.iter().any(|p| p == prompt) {
            users.extend(
                callback_queues
                    .iter()
                    .map(|q| format!("queue {q} (callbacks)")),
            );
        }
        for (name, survey) in config.iter().flat_map(|c| c.surveys.iter()) {
            if survey.prompts().contains(&prompt) {
                users.push(format!("survey {name}"));
            }
        }
        users
    }))
}

/// An emergency announcement switched on before a restart stays on after it: in an
/// emergency the operator must not have to remember to switch it on again.
async fn restore_emergency(exchange: &Floor, store: &Store) {
    match store
        .setting(crate::store::settings::EMERGENCY_PROMPT)
        .await
    {
        Ok(Some(prompt)) if exchange.prompts.get(&prompt).is_some() => {
            warn!(%prompt, "emergency announcement restored: every new call hears it first");
            exchange.announcements.set_emergency(Some(prompt));
        }
        Ok(Some(prompt)) => {
            warn!(%prompt, "the stored emergency announcement is not in the prompt library; it stays off");
        }
        Ok(None) => {}
        Err(e) => warn!(error = %e, "cannot read the emergency announcement switch; it stays off"),
    }
}
