// The desktop's side of the CTI protocol v1 (docs/cti.md): one websocket to /api/cti, and
// every server message handled here, in `handle`. It keeps the state the page shows
// (agent, calls, queues, figures, today's calls), numbers nothing itself but checks the
// server's gapless `seq`: a gap asks for a snapshot, an overlap is dropped, and entities
// are replaced only by a newer `version`. After a resume the server's `resumed` takes the
// next new seq and the replayed messages follow with their original (lower) seqs; live
// messages then continue after `resumed`'s seq (docs/cti.md, Resume). A lost connection is
// reopened with a growing delay and resumed from the last message seen; a refused
// credential, an expired session or a desktop opened elsewhere stop the reconnects.
//
// No DOM here: the page listens to the events below, and the unit page test drives the
// module with a fake WebSocket and clock.
//   'change'     {what}      the state changed (re-render)
//   'connection' {state}     conectando | conectado | reconectando | desconectado
//   'offer'      {call}      a call was offered (pop-up, notification)
//   'closed'     {code, message}  the server ended the session for good
//   'problem'    {message}   something the operator should read (pt-BR)

export const CLOSE_MESSAGES = {
  4001: 'Sessão não encontrada. Entre de novo.',
  4003: 'Acesso recusado. Entre de novo.',
  4004: 'Sua sessão expirou. Entre de novo.',
  4009: 'Esta mesa foi aberta em outra janela ou computador.',
};

/** Delays between reconnect attempts (ms); the last one repeats. */
export const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

/** How long a command may wait for its reply before the page is told (ms). */
export const REPLY_TIMEOUT_MS = 15000;

function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/cti`;
}

function freshState() {
  return {
    user: null,
    role: null,
    agentId: null,
    agent: null,
    agents: new Map(),
    calls: new Map(),
    queues: new Map(),
    figures: null,
    wrapUp: null,
    // The protocol the pop-up shows: the call offered or in talk, kept until dismissed.
    pop: null,
    // The pop-up's call after it ended (its screen-pop data, for the registration).
    popCall: null,
    // A supervisor monitoring this agent's call: { protocol, mode } (issue 20).
    monitoring: null,
  };
}

export class Cti extends EventTarget {
  /**
   * @param {object} [opts]
   * @param {string} [opts.url] websocket URL (default: this origin's /api/cti)
   * @param {Function} [opts.WebSocket] the WebSocket constructor (tests pass a fake)
   * @param {() => number} [opts.now] the local clock in ms
   * @param {{set: Function, clear: Function}} [opts.timers]
   * @param {Storage|null} [opts.storage] where today's calls survive a reload
   * @param {() => Promise<boolean>} [opts.checkSession] is the login still good?
   */
  constructor(opts = {}) {
    super();
    this.url = opts.url ?? defaultUrl();
    this.WebSocket = opts.WebSocket ?? globalThis.WebSocket;
    this.now = opts.now ?? (() => Date.now());
    this.timers = opts.timers ?? {
      set: (f, ms) => setTimeout(f, ms),
      clear: (id) => clearTimeout(id),
    };
    this.storage = opts.storage ?? null;
    // Asked after repeated failed reconnects: false means the session is gone (a refused
    // upgrade shows in the browser as a bare drop, never as close code 4004).
    this.checkSession = opts.checkSession ?? null;
    this.state = freshState();
    this.history = [];
    this.connection = 'desconectado';
    this.skewMs = 0;
    this.heartbeatSecs = 15;
    this.resumeWindowSecs = 60;
    // The connection to resume after a drop, and the last seq applied on it.
    this.connectionId = null;
    this.lastSeq = 0;
    this.droppedAt = null;
    this.resuming = false;
    this.replaysLeft = 0;
    this.maxSeen = 0;
    this.awaitingSnapshot = false;
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.stopped = true;
    this.ws = null;
    this.retryTimer = null;
    this.watchdog = null;
    this.gaps = 0;
  }

  // ---- the clock -------------------------------------------------------------------

  /** The server's clock as the page should use it: local time corrected by the skew. */
  serverNow() {
    return this.now() + this.skewMs;
  }

  /** How long since a server timestamp (ms). */
  since(ms) {
    return this.serverNow() - ms;
  }

  // ---- the connection --------------------------------------------------------------

  start() {
    this.stopped = false;
    this.loadHistory();
    this.open();
  }

  stop() {
    this.stopped = true;
    this.timers.clear(this.retryTimer);
    this.timers.clear(this.watchdog);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
    this.setConnection('desconectado');
  }

  open() {
    this.timers.clear(this.retryTimer);
    this.setConnection(this.connectionId ? 'reconectando' : 'conectando');
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.opened(ws);
    ws.onmessage = (ev) => { if (ws === this.ws) this.receive(ev.data); };
    ws.onclose = (ev) => { if (ws === this.ws) this.closed(ev.code, ev.reason); };
    ws.onerror = () => {};
  }

  opened(ws) {
    if (ws !== this.ws) return;
    const within = this.droppedAt !== null
      && this.now() - this.droppedAt < this.resumeWindowSecs * 1000;
    if (this.connectionId && within) {
      this.resuming = true;
      this.sendRaw({
        v: 1,
        type: 'hello',
        resume: { connection: this.connectionId, last_seq: this.lastSeq },
      });
    } else {
      // Said at once: the server waits a moment for a hello before its welcome.
      this.resuming = false;
      this.connectionId = null;
      this.lastSeq = 0;
      this.sendRaw({ v: 1, type: 'hello' });
    }
    this.maxSeen = this.lastSeq;
    this.armWatchdog();
  }

  closed(code, reason) {
    this.ws = null;
    this.timers.clear(this.watchdog);
    this.droppedAt = this.now();
    const final = CLOSE_MESSAGES[code];
    if (final) {
      this.stopped = true;
      this.failPending('Conexão encerrada pelo servidor.');
      this.setConnection('desconectado');
      this.emit('closed', { code, message: final });
      return;
    }
    if (code === 4002) {
      // The server gave up on this connection's messages: start afresh, no resume.
      this.connectionId = null;
      this.emit('problem', { message: 'Erro de protocolo; reconectando do zero.' });
    }
    if (this.stopped) {
      this.setConnection('desconectado');
      return;
    }
    this.scheduleReconnect();
    void reason;
  }

  scheduleReconnect() {
    this.setConnection('reconectando');
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    if (this.checkSession && this.attempt >= 3) {
      this.checkSession().then((ok) => {
        if (ok === false && !this.stopped && this.connection !== 'conectado') {
          this.timers.clear(this.retryTimer);
          const ws = this.ws;
          this.ws = null;
          if (ws) {
            try { ws.close(1000); } catch { /* already closed */ }
          }
          this.closed(4004, 'session');
        }
      }, () => {});
    }
    // A little jitter so a room of desktops does not come back in one burst.
    const delay = base + Math.floor(Math.random() * base * 0.2);
    this.retryTimer = this.timers.set(() => { if (!this.stopped) this.open(); }, delay);
  }

  /** No message for 2.5 heartbeats: the socket is dead even if the browser has not seen it. */
  armWatchdog() {
    this.timers.clear(this.watchdog);
    const ws = this.ws;
    this.watchdog = this.timers.set(() => {
      if (ws && ws === this.ws) {
        this.ws = null;
        try { ws.close(4000); } catch { /* already closing */ }
        this.closed(1006, 'heartbeat');
      }
    }, this.heartbeatSecs * 2500);
  }

  setConnection(s) {
    if (this.connection === s) return;
    this.connection = s;
    this.emit('connection', { state: s });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  sendRaw(obj) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  // ---- commands --------------------------------------------------------------------

  /**
   * Sends a command; resolves with the reply (`{ok:true}` or `{ok:false, error}`), never
   * rejects: a command that cannot be sent or gets no answer resolves as `unavailable`.
   */
  command(command, args = {}) {
    const id = `c${this.nextId++}`;
    const sent = this.sendRaw({ v: 1, type: 'command', id, command, args });
    if (!sent) {
      return Promise.resolve({
        id, ok: false,
        error: { code: 'unavailable', message: 'Sem conexão com o servidor. Aguarde a reconexão.' },
      });
    }
    return new Promise((resolve) => {
      const timer = this.timers.set(() => {
        if (this.pending.delete(id)) {
          resolve({
            id, ok: false,
            error: { code: 'unavailable', message: 'O servidor não respondeu; confira o estado antes de repetir.' },
          });
        }
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer, command, args });
    });
  }

  failPending(message) {
    for (const [id, p] of this.pending) {
      this.timers.clear(p.timer);
      p.resolve({ id, ok: false, error: { code: 'unavailable', message } });
    }
    this.pending.clear();
  }

  requestSnapshot() {
    this.awaitingSnapshot = true;
    this.sendRaw({ v: 1, type: 'snapshot_request' });
  }

  // ---- every server message --------------------------------------------------------

  receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.emit('problem', { message: 'Mensagem ilegível do servidor (ignorada).' });
      return;
    }
    if (msg && typeof msg === 'object') this.handle(msg);
  }

  /** Applies one server message. Returns false when it was dropped (overlap or stale). */
  handle(msg) {
    this.armWatchdog();
    if (!this.checkSeq(msg)) return false;
    switch (msg.type) {
      case 'welcome': return this.onWelcome(msg);
      case 'snapshot': return this.onSnapshot(msg);
      case 'resumed':
        this.replaysLeft = Number(msg.replayed) || 0;
        this.resuming = false;
        this.attempt = 0;
        this.setConnection('conectado');
        if (this.replaysLeft === 0) this.lastSeq = Math.max(this.lastSeq, this.maxSeen);
        return true;
      case 'resync_required':
        // A snapshot follows on its own; until then events would patch stale state.
        this.resuming = false;
        this.replaysLeft = 0;
        this.awaitingSnapshot = true;
        return true;
      case 'heartbeat':
        this.setSkew(msg.server_time_ms);
        return true;
      case 'reply': return this.onReply(msg);
      case 'error': return this.onError(msg);
      default:
        break;
    }
    // Entity events: meaningless on top of state we already know is stale.
    if (this.awaitingSnapshot) return false;
    switch (msg.type) {
      case 'agent_state': return this.onAgentState(msg);
      case 'call_offered': return this.onOffered(msg);
      case 'call_answered': return this.onCallUpdate(msg, { state: 'talking', answered_ms: this.serverNow() });
      case 'call_held': return this.onCallUpdate(msg, { state: 'held' });
      case 'call_resumed': return this.onCallUpdate(msg, { state: 'talking' });
      case 'call_transferred': return this.onCallUpdate(msg, { transferred_to: msg.to ?? null });
      case 'call_ended': return this.onEnded(msg);
      case 'call_missed': return this.onMissed(msg);
      case 'wrap_up':
        // A supervisor sees other agents' wrap-ups; the state bar is about one's own.
        if (!this.isMe(msg.agent)) return true;
        this.state.wrapUp = { protocol: msg.protocol, until_ms: msg.until_ms ?? null };
        this.changed('wrap_up');
        return true;
      case 'queue_stats': return this.onQueue(msg);
      case 'figures':
        this.state.figures = { own: msg.own ?? {}, group: msg.group ?? {}, targets: msg.targets ?? {} };
        this.changed('figures');
        return true;
      case 'registered': return this.onRegistered(msg);
      case 'monitoring':
        // A supervisor listens, whispers or barges into this agent's call (issue 20).
        if (!this.isMe(msg.agent)) return true;
        this.state.monitoring = msg.mode ? { protocol: msg.protocol, mode: msg.mode } : null;
        this.changed('monitoring');
        return true;
      default:
        return false; // a newer server's message: ignored, never fatal
    }
  }

  /**
   * The gapless `seq`: one more than the last is applied; an older one (a replay overlap)
   * is dropped; a jump means missed messages, so the client asks for a snapshot. The first
   * messages of a connection (welcome, resumed, resync, snapshot) set the count instead.
   */
  checkSeq(msg) {
    const seq = msg.seq;
    if (typeof seq !== 'number') return true;
    this.maxSeen = Math.max(this.maxSeen, seq);
    if (msg.type === 'welcome') {
      if (!this.resuming) this.lastSeq = seq;
      return true;
    }
    if (msg.type === 'resumed') return true;
    if (msg.type === 'resync_required') {
      this.lastSeq = seq;
      return true;
    }
    if (msg.type === 'snapshot') {
      this.lastSeq = seq;
      return true;
    }
    if (this.resuming) {
      // Between hello and the server's answer nothing else should come; keep counting.
      return true;
    }
    if (seq <= this.lastSeq) return false;
    if (seq !== this.lastSeq + 1) {
      this.gaps += 1;
      this.lastSeq = seq;
      this.requestSnapshot();
      this.emit('problem', { message: 'Mensagens perdidas; atualizando o estado completo.' });
      return msg.type === 'reply' || msg.type === 'heartbeat';
    }
    this.lastSeq = seq;
    if (this.replaysLeft > 0) {
      this.replaysLeft -= 1;
      if (this.replaysLeft === 0) this.lastSeq = Math.max(this.lastSeq, this.maxSeen);
    }
    return true;
  }

  setSkew(serverTimeMs) {
    if (typeof serverTimeMs === 'number' && Number.isFinite(serverTimeMs)) {
      this.skewMs = serverTimeMs - this.now();
    }
  }

  onWelcome(msg) {
    this.setSkew(msg.server_time_ms);
    if (msg.heartbeat_secs > 0) this.heartbeatSecs = msg.heartbeat_secs;
    if (msg.resume_window_secs > 0) this.resumeWindowSecs = msg.resume_window_secs;
    if (!this.resuming || msg.connection !== this.connectionId) {
      // A new connection: its snapshot follows; pending commands of the old one are lost.
      if (this.connectionId && msg.connection !== this.connectionId) {
        this.failPending('A conexão caiu antes da resposta; confira o estado antes de repetir.');
      }
    }
    this.connectionId = msg.connection;
    this.state.user = msg.user ?? null;
    this.state.role = msg.role ?? null;
    this.state.agentId = msg.agent ?? null;
    this.armWatchdog();
    this.changed('welcome');
    return true;
  }

  onSnapshot(msg) {
    const pop = this.state.pop;
    const old = this.state;
    const popCall = old.popCall;
    this.state = freshState();
    this.state.user = old.user;
    this.state.role = old.role;
    this.state.agentId = old.agentId;
    this.awaitingSnapshot = false;
    this.resuming = false;
    this.replaysLeft = 0;
    this.attempt = 0;
    if (msg.agent) {
      this.state.agent = msg.agent;
      this.state.agents.set(msg.agent.agent, msg.agent);
    }
    for (const a of msg.agents ?? []) this.state.agents.set(a.agent, a);
    for (const c of msg.calls ?? []) {
      // Keep the screen-pop data of a call we already had: the snapshot lists calls only.
      const had = old.calls.get(c.protocol);
      this.state.calls.set(c.protocol, { ...(had ?? {}), ...c });
      // A supervisor already monitoring this agent's call: the badge without waiting for
      // the next `monitoring` event.
      if (c.monitoring && c.agent && c.agent === this.state.agentId) {
        this.state.monitoring = { protocol: c.protocol, mode: c.monitoring };
      }
    }
    for (const q of msg.queues ?? []) this.state.queues.set(q.queue, q);
    if (msg.figures) this.state.figures = msg.figures;
    const current = this.state.agent?.call;
    if (pop && (this.state.calls.has(pop) || pop === current || popCall?.protocol === pop)) {
      this.state.pop = pop;
      if (popCall?.protocol === pop) this.state.popCall = popCall;
    } else if (current) {
      this.state.pop = current;
    }
    this.setConnection('conectado');
    this.changed('snapshot');
    return true;
  }

  /**
   * A message the server refused (`{code, message, id?}`). A reused command id
   * (`duplicate_id`) names the command: its promise gets the refusal instead of waiting
   * for a reply that will not come.
   */
  onError(msg) {
    const message = msg.message || 'Mensagem recusada pelo servidor.';
    const p = typeof msg.id === 'string' ? this.pending.get(msg.id) : null;
    if (p) {
      this.pending.delete(msg.id);
      this.timers.clear(p.timer);
      p.resolve({ id: msg.id, ok: false, error: { code: msg.code ?? 'malformed', message } });
      return true;
    }
    // A hello the server took too late to resume: it started a new connection instead
    // (welcome and snapshot follow), which is all the page needs; nothing to tell.
    if (msg.code === 'late_hello') return true;
    this.emit('problem', { message });
    return true;
  }

  /** Whether an event's `agent` is this desktop's own agent (a supervisor's has none). */
  isMe(agent) {
    return this.state.agentId !== null && (agent === undefined || agent === null || agent === this.state.agentId);
  }

  /** A call of this desktop's agent: named so, or one it was offered (agent may be null). */
  isMyCall(protocol, agent) {
    if (this.state.agentId === null) return false;
    if (typeof agent === 'string') return agent === this.state.agentId;
    return this.history.some((h) => h.protocol === protocol);
  }

  onReply(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return true;
    this.pending.delete(msg.id);
    this.timers.clear(p.timer);
    p.resolve(msg);
    return true;
  }

  onAgentState(msg) {
    const had = this.state.agents.get(msg.agent);
    if (had && typeof had.version === 'number' && msg.version <= had.version) return false;
    this.state.agents.set(msg.agent, msg);
    // The state bar is the own agent's; a supervisor's view of others stays in `agents`.
    if (this.state.agentId !== null && msg.agent === this.state.agentId) {
      this.state.agent = msg;
      if (msg.state !== 'wrap_up') this.state.wrapUp = null;
    }
    this.changed('agent');
    return true;
  }

  /** Replaces a call's fields when `version` is newer; false when stale. */
  putCall(protocol, version, fields) {
    const had = this.state.calls.get(protocol);
    if (had && typeof had.version === 'number' && typeof version === 'number' && version <= had.version) {
      return null;
    }
    const call = { ...(had ?? { protocol }), ...fields };
    if (typeof version === 'number') call.version = version;
    this.state.calls.set(protocol, call);
    return call;
  }

  onOffered(msg) {
    const c = msg.call ?? {};
    const call = this.putCall(c.protocol, c.version, {
      ...c,
      state: 'ringing',
      offered_ms: this.serverNow(),
      since_ms: this.serverNow() - (Number(c.waited_ms) || 0),
    });
    if (!call) return false;
    // Offers reach an agent only for their own calls; a supervisor (no agent) just watches.
    if (this.state.agentId === null) {
      this.changed('call');
      return true;
    }
    this.state.pop = c.protocol;
    this.state.popCall = null;
    this.remember(c.protocol, {
      caller: c.caller, queue: c.queue ?? null, at_ms: call.offered_ms, outcome: 'oferecida',
    });
    this.changed('offer');
    this.emit('offer', { call });
    return true;
  }

  onCallUpdate(msg, fields) {
    const extra = { ...fields };
    if (msg.agent !== undefined) extra.agent = msg.agent;
    const call = this.putCall(msg.protocol, msg.version, extra);
    if (!call) return false;
    const mine = this.isMyCall(msg.protocol, msg.agent);
    if (mine && fields.state === 'talking' && fields.answered_ms) {
      this.state.pop = msg.protocol;
      this.remember(msg.protocol, { answered_ms: fields.answered_ms, outcome: 'atendida' });
    }
    if (mine && fields.transferred_to !== undefined) {
      this.remember(msg.protocol, { outcome: 'transferida', to: fields.transferred_to, ended_ms: this.serverNow() });
      // Gone from this desktop: the pop-up stays (for the registration) as transferred.
      if (msg.by === 'agent' && this.isMe(msg.agent)) {
        this.state.calls.delete(msg.protocol);
        if (this.state.pop === msg.protocol) this.state.popCall = { ...call, state: 'transferred' };
      }
    }
    this.changed('call');
    return true;
  }

  onEnded(msg) {
    const had = this.state.calls.get(msg.protocol);
    if (had && typeof had.version === 'number' && msg.version <= had.version) return false;
    this.state.calls.delete(msg.protocol);
    // The pop-up keeps the screen-pop data for the registration after the call.
    if (had && this.state.pop === msg.protocol) this.state.popCall = { ...had, state: 'ended' };
    const entry = this.history.find((h) => h.protocol === msg.protocol);
    if (entry) {
      const fields = { ended_ms: this.serverNow(), by: msg.by, cause: msg.cause };
      if (entry.outcome === 'oferecida') fields.outcome = 'encerrada';
      this.remember(msg.protocol, fields);
    }
    // The pop-up stays for the registration; it closes when the operator dismisses it.
    this.changed('call');
    return true;
  }

  onMissed(msg) {
    this.state.calls.delete(msg.protocol);
    if (this.isMyCall(msg.protocol, msg.agent)) {
      this.remember(msg.protocol, { outcome: 'perdida', reason: msg.reason, ended_ms: this.serverNow() });
    }
    if (this.state.pop === msg.protocol) this.state.pop = null;
    this.changed('call');
    return true;
  }

  onQueue(msg) {
    const had = this.state.queues.get(msg.queue);
    if (had && typeof had.version === 'number' && msg.version <= had.version) return false;
    this.state.queues.set(msg.queue, msg);
    this.changed('queue');
    return true;
  }

  onRegistered(msg) {
    if (this.state.agentId !== null) this.remember(msg.protocol, { code: msg.code, note: msg.note });
    this.changed('registered');
    return true;
  }

  dismissPop() {
    this.state.pop = null;
    this.state.popCall = null;
    this.changed('pop');
  }

  changed(what) {
    this.emit('change', { what });
  }

  // ---- today's calls ---------------------------------------------------------------

  /** Adds to (or updates) today's entry of a call and keeps the list for a page reload. */
  remember(protocol, fields) {
    if (!protocol) return;
    let entry = this.history.find((h) => h.protocol === protocol);
    if (!entry) {
      entry = { protocol, at_ms: this.serverNow() };
      this.history.unshift(entry);
      if (this.history.length > 200) this.history.length = 200;
    }
    Object.assign(entry, fields);
    this.saveHistory();
  }

  historyKey() {
    const d = new Date(this.serverNow());
    const day = `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
    return `atende.hoje.${day}`;
  }

  loadHistory() {
    if (!this.storage) return;
    try {
      const saved = JSON.parse(this.storage.getItem(this.historyKey()) ?? '[]');
      if (Array.isArray(saved)) this.history = saved;
    } catch {
      this.history = [];
    }
  }

  saveHistory() {
    if (!this.storage) return;
    try {
      this.storage.setItem(this.historyKey(), JSON.stringify(this.history));
    } catch { /* storage full or disabled: the list lives until the reload */ }
  }
}
