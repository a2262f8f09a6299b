//! The agent desktop in a real headless Chromium (Debian's `chromium` + `chromedriver`),
//! served by a real `atende` process: the login page in Portuguese (a wrong password:
//! `tests/desktop_flow.rs`, with the users); the CTI module (`web/desktop/cti.js`) against a scripted socket
//! (sequence gaps, resume, stale versions, skew, close codes); and the whole desktop page
//! fed by a scripted CTI server: state bar and timers, pause reasons, the screen-pop, the
//! registration, the figures, the connection state through a drop and a takeover.
//! Screenshots: target/test-artifacts/<test>/.

#[path = "support/browser.rs"]
mod browser;
mod support;

use browser::Browser;
use serde_json::{Value, json};
use support::*;

fn login_page_speaks_portuguese(db: Db, test: &str) {
    let server = Server::start(db, &["1001"]);
    let mut b = Browser::start(test);
    b.collect_page_errors();
    b.goto(&format!("http://127.0.0.1:{}/", server.http_port));
    assert_eq!(
        b.eval("return document.documentElement.lang;", vec![]),
        "pt-BR"
    );
    assert_eq!(b.eval("return document.title;", vec![]), "atende — Entrar");
    let form = b.text("form");
    assert!(form.contains("Usuário") && form.contains("Senha"), "{form}");
    assert_eq!(b.text("#entrar"), "Entrar");
    assert!(!b.shown("#erro-login"), "no error before trying");
    b.screenshot("login");

    b.click("#entrar");
    b.wait_text("#erro-login", "Informe usuário e senha.");
    assert_eq!(b.eval("return location.pathname;", vec![]), "/");
    b.screenshot("sem-senha");
    assert_eq!(
        b.page_errors(),
        Vec::<String>::new(),
        "no script error or CSP violation"
    );

    // The policy is real: an injected inline script does not run.
    b.eval(
        "const s = document.createElement('script'); \
         s.textContent = 'window.__ran = true;'; document.body.append(s);",
        vec![],
    );
    let refused = b.wait_for(
        "the CSP refuses an inline script",
        "return (window.__pageErrors || []).find((e) => e.startsWith('csp: script-src')) || null;",
    );
    assert!(refused.is_string(), "{refused}");
    assert_eq!(b.eval("return window.__ran === true;", vec![]), false);
}

#[test]
fn login_page_sqlite() {
    login_page_speaks_portuguese(Db::Sqlite, "login_page_sqlite");
}

#[test]
fn login_page_postgres() {
    login_page_speaks_portuguese(Db::Postgres, "login_page_postgres");
}

/// The CTI module alone, in the browser, with a fake WebSocket, clock and timers.
const CTI_UNIT: &str = r#"
const m = await import('/desktop/cti.js');
const sockets = [];
class FakeWs {
  constructor(url) { this.url = url; this.sent = []; this.readyState = 0; sockets.push(this); }
  send(t) { this.sent.push(JSON.parse(t)); }
  close(code) { this.readyState = 3; this.closedWith = code; }
}
let now = 1000000;
const timers = [];
const t = {
  set: (f, ms) => { timers.push({ f, at: now + ms }); return timers.length; },
  clear: (id) => { if (id) timers[id - 1] = null; },
};
const advance = (ms) => {
  now += ms;
  for (let i = 0; i < timers.length; i++) {
    const x = timers[i];
    if (x && x.at <= now) { timers[i] = null; x.f(); }
  }
};
const cti = new m.Cti({ url: 'ws://teste/api/cti', WebSocket: FakeWs, now: () => now, timers: t });
const conn = []; cti.addEventListener('connection', (e) => conn.push(e.detail.state));
const offers = []; cti.addEventListener('offer', (e) => offers.push(e.detail.call.protocol));
const closed = []; cti.addEventListener('closed', (e) => closed.push(e.detail));
let ws;
const srv = (o) => ws.onmessage({ data: JSON.stringify({ v: 1, ...o }) });
const open = () => { ws = sockets.at(-1); ws.readyState = 1; ws.onopen(); };
const S = () => now + 3600000; // the server's clock runs an hour ahead
const agent = (version, state, extra = {}) => ({ agent: '1001', version, state, reason: null,
  since_ms: S(), queues: ['pericia'], call: null, next_state: null, ...extra });
const r = {};

cti.start();
open();
r.helloOnFirstOpen = ws.sent.slice();
srv({ seq: 1, type: 'welcome', connection: 'k1', server_time_ms: S(), resume_window_secs: 60,
  heartbeat_secs: 15, user: 'ana', role: 'agent', agent: '1001' });
r.skew = cti.skewMs;
srv({ seq: 2, type: 'snapshot', as_of_seq: 2,
  agent: agent(3, 'paused', { reason: 'lanche', since_ms: S() - 65000 }), agents: [], calls: [],
  queues: [{ queue: 'pericia', version: 1, waiting: 2, oldest_since_ms: S() - 30000, staffed: 3, available: 1 }],
  figures: { own: { answered: 4, aht_ms: 300000 }, group: { answered: 40 }, targets: { aht_ms: 481000 } } });
r.connectedAfterSnapshot = cti.connection;
r.secondsInState = Math.round(cti.since(cti.state.agent.since_ms) / 1000);

const pending = cti.command('ready', {});
const cmd = ws.sent.at(-1);
r.command = cmd;
srv({ seq: 3, type: 'agent_state', ...agent(4, 'available'), command_id: cmd.id });
srv({ seq: 4, type: 'reply', id: cmd.id, ok: true });
r.reply = await pending;
r.stateAfterReady = cti.state.agent.state;

r.staleApplied = cti.handle({ v: 1, seq: 5, type: 'agent_state', ...agent(2, 'paused') });
r.stateAfterStale = cti.state.agent.state;

srv({ seq: 6, type: 'call_offered', call: { protocol: '20261207-000001', version: 1, caller: 'restrito',
  did: '08000000000', queue: 'pericia', waited_ms: 12000, ivr: { cpf: '12345678909' }, history: [], url: null } });
r.offers = offers.slice();
r.pop = cti.state.pop;
r.duplicateApplied = cti.handle({ v: 1, seq: 6, type: 'heartbeat', server_time_ms: S() });

ws.sent.length = 0;
srv({ seq: 9, type: 'queue_stats', queue: 'pericia', version: 2, waiting: 0, oldest_since_ms: null, staffed: 3, available: 1 });
r.sentAfterGap = ws.sent.map((x) => x.type);
r.waitingAfterGap = cti.state.queues.get('pericia').waiting;
srv({ seq: 10, type: 'snapshot', as_of_seq: 10, agent: agent(5, 'ringing', { call: '20261207-000001' }),
  agents: [], calls: [{ protocol: '20261207-000001', version: 1, state: 'ringing', agent: '1001',
  queue: 'pericia', caller: 'restrito', did: '08000000000', since_ms: S() - 12000, monitoring: 'whisper' }],
  queues: [{ queue: 'pericia', version: 3, waiting: 1, oldest_since_ms: S(), staffed: 3, available: 0 }], figures: null });
r.waitingAfterSnapshot = cti.state.queues.get('pericia').waiting;
r.popKeepsScreenPop = cti.state.calls.get('20261207-000001').ivr?.cpf ?? null;
r.badgeFromSnapshot = cti.state.monitoring;

ws.onclose({ code: 1006, reason: '' });
r.afterDrop = cti.connection;
advance(1000);
r.socketsAfterBackoff = sockets.length;
open();
r.hello = ws.sent[0];
srv({ seq: 12, type: 'resumed', replayed: 1 });
srv({ seq: 11, type: 'queue_stats', queue: 'pericia', version: 4, waiting: 5, oldest_since_ms: S(), staffed: 3, available: 0 });
srv({ seq: 13, type: 'heartbeat', server_time_ms: S() });
r.waitingAfterResume = cti.state.queues.get('pericia').waiting;
r.gaps = cti.gaps;
r.afterResume = cti.connection;

advance(15 * 2500 + 1); // the watchdog fires and schedules a reconnect
advance(1000);
r.socketsAfterSilence = sockets.length;
open();
r.helloAfterSilence = ws.sent[0];
// The server no longer has k1: a new connection, resync and snapshot.
srv({ seq: 1, type: 'welcome', connection: 'k2', server_time_ms: S(), resume_window_secs: 60,
  heartbeat_secs: 15, user: 'ana', role: 'agent', agent: '1001' });
srv({ seq: 2, type: 'resync_required', reason: 'resume_expired' });
srv({ seq: 3, type: 'snapshot', as_of_seq: 3, agent: agent(9, 'paused', { reason: 'lanche' }),
  agents: [], calls: [], queues: [], figures: null });
srv({ seq: 4, type: 'agent_state', ...agent(10, 'available') });
r.afterFailedResume = { connection: cti.connectionId, state: cti.state.agent.state, gaps: cti.gaps,
  queues: cti.state.queues.size };
ws.onclose({ code: 4009, reason: '' });
advance(60000);
r.closed = closed;
r.socketsAfterTakeover = sockets.length;
r.afterTakeover = cti.connection;
r.connections = conn;

// A server that refuses the upgrade (the session is gone) shows only as drops: after three
// the page asks whether the login still holds, and stops for a new login when it does not.
const c2 = new m.Cti({ url: 'ws://teste/api/cti', WebSocket: FakeWs, now: () => now, timers: t,
  checkSession: async () => false });
const closed2 = []; c2.addEventListener('closed', (e) => closed2.push(e.detail.code));
c2.start();
for (let i = 0; i < 3; i++) { sockets.at(-1).onclose({ code: 1006, reason: '' }); advance(10000); }
await new Promise((res) => setTimeout(res, 0));
const before = sockets.length;
advance(60000);
r.sessionGone = { closed: closed2, reconnectsAfter: sockets.length - before, connection: c2.connection };

// A supervisor (no agent of their own) watches an agent's call: no pop-up, no own state,
// nothing in their list of today's calls. And a reused command id gets an `error` naming it.
const c3 = new m.Cti({ url: 'ws://teste/api/cti', WebSocket: FakeWs, now: () => now, timers: t });
c3.start();
open();
srv({ seq: 1, type: 'welcome', connection: 's1', server_time_ms: S(), resume_window_secs: 60,
  heartbeat_secs: 15, user: 'bia', role: 'supervisor', agent: null });
srv({ seq: 2, type: 'snapshot', as_of_seq: 2, agent: null, agents: [agent(1, 'available')], calls: [],
  queues: [], figures: null });
srv({ seq: 3, type: 'call_offered', call: { protocol: '20261207-000002', version: 1, caller: 'restrito',
  did: '08000000000', queue: 'pericia', waited_ms: 0, ivr: {}, history: [], url: null } });
srv({ seq: 4, type: 'call_answered', protocol: '20261207-000002', version: 2, agent: '1001' });
srv({ seq: 5, type: 'agent_state', ...agent(2, 'on_call', { call: '20261207-000002' }) });
srv({ seq: 6, type: 'wrap_up', agent: '1001', protocol: '20261207-000002', until_ms: null });
r.supervisor = { pop: c3.state.pop, own: c3.state.agent, seen: c3.state.agents.get('1001').state,
  calls: c3.state.calls.size, history: c3.history.length, wrapUp: c3.state.wrapUp };
const dup = c3.command('ready');
srv({ seq: 7, type: 'error', code: 'duplicate_id', message: 'id de comando já usado nesta conexão',
  id: ws.sent.at(-1).id });
r.duplicate = await dup;
const problems = []; c3.addEventListener('problem', (e) => problems.push(e.detail.message));
srv({ seq: 8, type: 'error', code: 'late_hello', message: 'hello só pode ser a primeira mensagem' });
srv({ seq: 9, type: 'error', code: 'malformed', message: 'expected value at line 1 column 1' });
r.problems = problems;
return r;
"#;

#[test]
fn cti_module_follows_the_protocol() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    let b = Browser::start("cti_module_follows_the_protocol");
    b.goto(&format!("http://127.0.0.1:{}/", server.http_port));
    let r = b.eval_async(CTI_UNIT);
    assert!(r.get("error").is_none(), "the module threw: {r}");
    assert_eq!(
        r["helloOnFirstOpen"],
        json!([{"v": 1, "type": "hello"}]),
        "a plain hello when there is nothing to resume"
    );
    assert_eq!(r["skew"], 3_600_000, "skew from welcome.server_time_ms");
    assert_eq!(r["connectedAfterSnapshot"], "conectado");
    assert_eq!(
        r["secondsInState"], 65,
        "time in state on the server's clock"
    );
    assert_eq!(r["command"]["type"], "command");
    assert_eq!(r["command"]["command"], "ready");
    assert_eq!(r["reply"]["ok"], true, "the reply is matched by id");
    assert_eq!(r["stateAfterReady"], "available");
    assert_eq!(r["staleApplied"], false, "an older version is ignored");
    assert_eq!(r["stateAfterStale"], "available");
    assert_eq!(r["offers"], json!(["20261207-000001"]));
    assert_eq!(r["pop"], "20261207-000001");
    assert_eq!(
        r["duplicateApplied"], false,
        "an overlapping seq is dropped"
    );
    assert_eq!(
        r["sentAfterGap"],
        json!(["snapshot_request"]),
        "a gap asks for a snapshot"
    );
    assert_eq!(
        r["waitingAfterGap"], 2,
        "events after a gap wait for the snapshot"
    );
    assert_eq!(r["waitingAfterSnapshot"], 1);
    assert_eq!(r["popKeepsScreenPop"], "12345678909");
    // A supervisor whispering when the snapshot is taken: the badge comes with it.
    assert_eq!(
        r["badgeFromSnapshot"],
        json!({"protocol": "20261207-000001", "mode": "whisper"})
    );
    assert_eq!(r["afterDrop"], "reconectando");
    assert_eq!(r["socketsAfterBackoff"], 2, "reconnects after the backoff");
    assert_eq!(
        r["hello"],
        json!({"v": 1, "type": "hello", "resume": {"connection": "k1", "last_seq": 10}})
    );
    assert_eq!(r["waitingAfterResume"], 5, "the replayed event is applied");
    assert_eq!(
        r["gaps"], 1,
        "replay and live messages continue without a gap"
    );
    assert_eq!(r["afterResume"], "conectado");
    assert_eq!(
        r["socketsAfterSilence"], 3,
        "no message for 2.5 heartbeats: reconnect"
    );
    assert_eq!(
        r["helloAfterSilence"],
        json!({"v": 1, "type": "hello", "resume": {"connection": "k1", "last_seq": 13}})
    );
    assert_eq!(
        r["afterFailedResume"],
        json!({"connection": "k2", "state": "available", "gaps": 1, "queues": 0}),
        "a failed resume starts over from the snapshot, without a false gap"
    );
    assert_eq!(r["closed"][0]["code"], 4009);
    assert_eq!(
        r["closed"][0]["message"],
        "Esta mesa foi aberta em outra janela ou computador."
    );
    assert_eq!(r["socketsAfterTakeover"], 3, "no reconnect after 4009");
    assert_eq!(
        r["sessionGone"],
        json!({"closed": [4004], "reconnectsAfter": 0, "connection": "desconectado"}),
        "repeated drops with the login gone end in 'session expired', not endless retries"
    );
    assert_eq!(r["afterTakeover"], "desconectado");
    assert_eq!(
        r["supervisor"],
        json!({"pop": null, "own": null, "seen": "on_call", "calls": 1, "history": 0, "wrapUp": null}),
        "a supervisor sees the agent's call but gets no pop-up and no state bar of it"
    );
    assert_eq!(r["duplicate"]["ok"], false);
    assert_eq!(
        r["duplicate"]["error"],
        json!({"code": "duplicate_id", "message": "id de comando já usado nesta conexão"}),
        "a reused id's error answers the command instead of leaving it waiting"
    );
    assert_eq!(
        r["problems"],
        json!(["expected value at line 1 column 1"]),
        "a malformed message is told; a late hello (the server started afresh) is not"
    );
}

/// Put in front of the desktop page before its scripts run: `/api/me` and the two lists
/// answered by the test, and a WebSocket the test scripts (`window.__fake`).
const FAKE_SERVER: &str = r#"
(() => {
  const fake = { sockets: [], sent: [] };
  window.__fake = fake;
  const realFetch = window.fetch.bind(window);
  const json = (o) => new Response(JSON.stringify(o), { status: 200, headers: { 'Content-Type': 'application/json' } });
  window.fetch = (url, opts) => {
    const u = String(url);
    if (u.endsWith('/api/me')) return Promise.resolve(json({ user: 'ana', display_name: 'Ana Souza', role: 'agent', agent: '1001', queues: ['pericia'] }));
    if (u.endsWith('/api/pause_reasons')) return Promise.resolve(json([{ code: 'lanche', label: 'Lanche', productive: false }, { code: 'treinamento', label: 'Treinamento', productive: true }]));
    if (u.endsWith('/api/dispositions')) return Promise.resolve(json([{ code: 'info', label: 'Informação' }, { code: 'agendamento', label: 'Agendamento', queues: ['pericia'] }, { code: 'ouvidoria', label: 'Ouvidoria', queues: ['geral'] }]));
    return realFetch(url, opts);
  };
  class FakeWs {
    constructor(url) {
      this.url = url; this.readyState = 0; fake.sockets.push(this);
      setTimeout(() => { this.readyState = 1; if (this.onopen) this.onopen(); }, 0);
    }
    send(t) { fake.sent.push(JSON.parse(t)); }
    close() { this.readyState = 3; }
  }
  fake.push = (o) => fake.sockets.at(-1).onmessage({ data: JSON.stringify({ v: 1, ...o }) });
  fake.drop = (code) => { const ws = fake.sockets.at(-1); ws.readyState = 3; ws.onclose({ code, reason: '' }); };
  window.WebSocket = FakeWs;
  // The tab can be hidden at will, and notifications are recorded instead of shown.
  fake.hidden = false;
  Object.defineProperty(document, 'hidden', { get: () => fake.hidden });
  fake.notifications = [];
  class FakeNotification {
    constructor(title, opts) { fake.notifications.push({ title, ...opts }); }
    close() {}
    static requestPermission() { return Promise.resolve('granted'); }
  }
  FakeNotification.permission = 'granted';
  window.Notification = FakeNotification;
})();
"#;

fn push(b: &Browser, msg: Value) {
    b.eval("window.__fake.push(arguments[0]);", vec![msg]);
}

/// Waits for the page to send a command named `name`; returns it.
fn sent_command(b: &Browser, name: &str) -> Value {
    b.wait_for(
        &format!("the page sends {name}"),
        &format!(
            "return window.__fake.sent.find((m) => m.type === 'command' && m.command === '{name}') || null;"
        ),
    )
}

#[test]
fn desktop_shows_state_pop_and_registration_from_the_cti() {
    let server = Server::start(Db::Sqlite, &["1001"]);
    let mut b = Browser::start("desktop_shows_state_pop_and_registration_from_the_cti");
    b.collect_page_errors();
    b.before_each_page(FAKE_SERVER);
    b.goto(&format!("http://127.0.0.1:{}/desktop/", server.http_port));
    b.wait_for(
        "the page opens the CTI",
        "return window.__fake.sockets.length === 1 && window.__fake.sockets[0].readyState === 1;",
    );
    assert!(b.text("#conexao").starts_with("Conectando"));
    b.wait_text("#operador", "Ana Souza");

    // The server's clock is an hour ahead of the browser's: timers must not show it.
    let server_now = "Date.now() + 3600000";
    let now: i64 = b
        .eval(&format!("return {server_now};"), vec![])
        .as_i64()
        .unwrap();
    push(
        &b,
        json!({"seq": 1, "type": "welcome", "connection": "k1", "server_time_ms": now,
               "resume_window_secs": 60, "heartbeat_secs": 15, "user": "ana",
               "role": "agent", "agent": "1001"}),
    );
    let agent = |version: u64, state: &str, extra: Value| {
        let mut a = json!({"agent": "1001", "version": version, "state": state, "reason": null,
                           "since_ms": now, "queues": ["pericia"], "call": null,
                           "next_state": null});
        if let (Some(a), Some(e)) = (a.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        a
    };
    push(
        &b,
        json!({"seq": 2, "type": "snapshot", "as_of_seq": 2,
               "agent": agent(3, "paused", json!({"reason": "lanche", "since_ms": now - 65_000})),
               "agents": [], "calls": [],
               "queues": [{"queue": "pericia", "version": 1, "waiting": 2,
                           "oldest_since_ms": now - 30_000, "staffed": 3, "available": 0}],
               "figures": {"own": {"answered": 4, "aht_ms": 300_000, "service_level": 0.95},
                           "group": {"answered": 40, "aht_ms": 420_000, "service_level": 0.85},
                           "targets": {"aht_ms": 481_000, "service_level": 0.9}}}),
    );
    b.wait_text("#conexao", "Conectado");
    b.wait_text("#estado-nome", "Em pausa");
    b.wait_text("#estado-motivo", "Lanche");
    let timer = b.text("#estado-tempo");
    assert!(
        timer.starts_with("1:0") && timer.len() == 4,
        "time in pause from the server's clock, skew corrected: {timer}"
    );
    b.wait_for(
        "the state timer ticks",
        &format!("return document.getElementById('estado-tempo').textContent !== '{timer}';"),
    );
    assert_eq!(b.text("#num-tma-eu"), "300 s");
    assert_eq!(b.text("#num-tma-meta"), "481 s");
    assert_eq!(b.text("#num-ns-meta"), "90 %");
    assert_eq!(b.text("#num-ns-grupo"), "85 %");
    b.wait_text("#filas", "pericia");
    let options = b.eval(
        "return [...document.querySelectorAll('#motivo-pausa option')].map((o) => o.textContent);",
        vec![],
    );
    assert_eq!(options, json!(["Lanche", "Treinamento"]));
    b.screenshot("em-pausa");

    b.click("#btn-pronto");
    let ready = sent_command(&b, "ready");
    push(
        &b,
        json!({"seq": 3, "type": "agent_state", "command_id": ready["id"],
               "agent": "1001", "version": 4, "state": "available", "reason": null,
               "since_ms": now, "queues": ["pericia"], "call": null, "next_state": null}),
    );
    push(
        &b,
        json!({"seq": 4, "type": "reply", "id": ready["id"], "ok": true}),
    );
    b.wait_text("#estado-nome", "Disponível");

    let protocol = "20261207-000123";
    b.eval("window.__fake.hidden = true;", vec![]);
    push(
        &b,
        json!({"seq": 5, "type": "call_offered", "call": {
            "protocol": protocol, "version": 1, "caller": "11987654321", "did": "08000000000",
            "queue": "pericia", "waited_ms": 42_000,
            "ivr": {"cpf": "123.456.789-09", "opcao": "agendar"},
            "history": [{"protocol": "20261201-000042", "at_ms": now - 6 * 86_400_000,
                         "disposition": "info", "note": "pediu segunda via"}],
            "url": "https://instituto.example/atendimento?cpf=12345678909"}}),
    );
    push(
        &b,
        json!({"seq": 6, "type": "agent_state", "agent": "1001", "version": 5,
               "state": "ringing", "reason": null, "since_ms": now, "queues": ["pericia"],
               "call": protocol, "next_state": null}),
    );
    b.wait_text("#pop-titulo", "Chamada chegando");
    assert_eq!(b.text("#pop-protocolo"), protocol);
    assert_eq!(b.text("#pop-chamador"), "11987654321");
    assert_eq!(b.text("#pop-fila"), "pericia");
    assert_eq!(b.text("#pop-espera"), "0:42");
    let ura = b.text("#pop-ura");
    assert!(
        ura.contains("cpf") && ura.contains("123.456.789-09"),
        "{ura}"
    );
    let hist = b.text("#pop-historico");
    assert!(
        hist.contains("20261201-000042")
            && hist.contains("Informação")
            && hist.contains("pediu segunda via"),
        "{hist}"
    );
    assert_eq!(
        b.eval("return document.getElementById('pop-url').href;", vec![]),
        "https://instituto.example/atendimento?cpf=12345678909"
    );
    assert!(b.shown("#btn-atender"));
    let shown = b.eval("return window.__fake.notifications;", vec![]);
    assert_eq!(
        shown,
        json!([{"title": "Chamada chegando", "body": format!("Fila pericia · protocolo {protocol}"),
                "tag": format!("atende-{protocol}"), "requireInteraction": true}]),
        "a hidden tab gets a notification, without the citizen's number"
    );
    b.eval("window.__fake.hidden = false;", vec![]);
    b.wait_text("#estado-nome", "Tocando");
    b.screenshot("pop");

    push(
        &b,
        json!({"seq": 7, "type": "call_answered", "protocol": protocol, "version": 2, "agent": "1001"}),
    );
    push(
        &b,
        json!({"seq": 8, "type": "agent_state", "agent": "1001", "version": 6,
               "state": "on_call", "reason": null, "since_ms": now, "queues": ["pericia"],
               "call": protocol, "next_state": null}),
    );
    b.wait_text("#estado-nome", "Em atendimento");
    assert!(b.shown("#btn-desligar") && b.shown("#btn-espera") && b.shown("#form-transferir"));
    assert!(!b.shown("#btn-atender"));

    b.click("#btn-espera");
    let hold = sent_command(&b, "hold");
    assert_eq!(hold["args"], json!({"protocol": protocol}));
    b.select("#transf-tipo", "agent");
    b.fill("#transf-destino", "1002");
    b.click("input[name='modo'][value='attended']");
    b.click("#btn-transferir");
    let transfer = sent_command(&b, "transfer");
    assert_eq!(
        transfer["args"],
        json!({"protocol": protocol, "to": {"agent": "1002"}, "mode": "attended"})
    );
    b.select("#motivo-pausa", "treinamento");
    b.select("#proximo-estado", "paused");
    b.click("#btn-proximo");
    let next = sent_command(&b, "next_state");
    assert_eq!(
        next["args"],
        json!({"state": "paused", "reason": "treinamento"})
    );
    let mut seq = 8;
    for cmd in [&hold, &transfer, &next] {
        seq += 1;
        push(
            &b,
            json!({"seq": seq, "type": "reply", "id": cmd["id"], "ok": true}),
        );
    }
    let codes = b.eval(
        "return [...document.querySelectorAll('#registro-codigo option')].map((o) => o.value);",
        vec![],
    );
    assert_eq!(
        codes,
        json!(["info", "agendamento"]),
        "only the dispositions of the call's queue"
    );
    b.select("#registro-codigo", "agendamento");
    b.fill("#registro-nota", "agendou perícia para segunda");
    b.click("#btn-registrar");
    let reg = sent_command(&b, "register");
    assert_eq!(
        reg["args"],
        json!({"protocol": protocol, "code": "agendamento", "note": "agendou perícia para segunda"})
    );
    push(
        &b,
        json!({"seq": 12, "type": "registered", "protocol": protocol, "code": "agendamento",
               "note": "agendou perícia para segunda", "command_id": reg["id"]}),
    );
    push(
        &b,
        json!({"seq": 13, "type": "reply", "id": reg["id"], "ok": true}),
    );
    b.wait_text("#registro-msg", "Registrado: Agendamento");

    b.click("#btn-desligar");
    let hang = sent_command(&b, "hang_up");
    assert_eq!(hang["args"], json!({"protocol": protocol}));
    push(
        &b,
        json!({"seq": 14, "type": "call_ended", "protocol": protocol, "version": 3,
               "agent": "1001", "by": "agent", "cause": "normal", "command_id": hang["id"]}),
    );
    push(
        &b,
        json!({"seq": 15, "type": "reply", "id": hang["id"], "ok": true}),
    );
    push(
        &b,
        json!({"seq": 16, "type": "agent_state", "agent": "1001", "version": 7,
               "state": "wrap_up", "reason": null, "since_ms": now, "queues": ["pericia"],
               "call": protocol, "next_state": null}),
    );
    b.wait_text("#estado-nome", "Pós-atendimento");
    assert!(b.shown("#btn-fim-pos"));
    b.wait_text("#pop-estado", "encerrada");
    assert!(
        b.text("#pop-ura").contains("123.456.789-09"),
        "the pop-up keeps the screen-pop after the call, for the registration"
    );
    let row = b.wait_text(
        &format!("#historico tr[data-protocolo='{protocol}']"),
        "Agendamento",
    );
    assert!(row.contains("11987654321"), "{row}");
    b.screenshot("registrado");

    // A refused command shows the server's own words.
    b.click("#btn-fim-pos");
    let end = sent_command(&b, "end_wrap_up");
    push(
        &b,
        json!({"seq": 17, "type": "reply", "id": end["id"], "ok": false,
               "error": {"code": "invalid_state", "message": "O pós-atendimento já terminou."}}),
    );
    b.wait_text("#aviso", "O pós-atendimento já terminou.");

    // The network drops: reconnecting, then resumed from the last message seen.
    b.eval("window.__fake.drop(1006);", vec![]);
    b.wait_text("#conexao", "Reconectando");
    b.screenshot("reconectando");
    let hello = b.wait_for(
        "a second socket sends hello",
        "return window.__fake.sockets.length === 2 && window.__fake.sent.find((m) => m.type === 'hello' && m.resume) || null;",
    );
    assert_eq!(
        hello,
        json!({"v": 1, "type": "hello", "resume": {"connection": "k1", "last_seq": 17}})
    );
    push(&b, json!({"seq": 18, "type": "resumed", "replayed": 0}));
    b.wait_text("#conexao", "Conectado");

    // Another desktop took this agent: said plainly, and no reconnect fight.
    b.eval("window.__fake.drop(4009);", vec![]);
    b.wait_text("#aviso", "aberta em outra janela");
    b.wait_text("#conexao", "Desconectado");
    b.screenshot("aberta-em-outro-lugar");
    assert_eq!(
        b.page_errors(),
        Vec::<String>::new(),
        "no script error or CSP violation"
    );
}
