// The wallboard: the CTI connection (/desktop/cti.js) for what changes live (agents and
// their states, calls waiting and in talk, queues), and GET /api/wallboard for today's
// counters, service level, each agent's production and the callers not called back (the
// reports' stored figures: they survive a restart). /api/wallboard is read again when the
// CTI says a call was answered or ended (at most every 2 s) and once a minute; times in
// state tick every second from the server's timestamps. `?tv=1` is the TV mode (no
// controls, full window); `?fila=ID` shows one queue, `?equipe=KEY` one team (its
// queues and its own agents; /api/wallboard lists the teams one may pick). Supervisors and admins get the
// floor controls (force pause / ready / logout, take a waiting call to an agent, close or
// reopen a queue, give or lift its priority: a queue closed by hand or given a priority
// says so under its name, until a supervisor lifts it); a wallboard user and an auditor
// only look.

import { Cti } from '/desktop/cti.js';
import { CONEXAO, ESTADOS, duracao, hora, rotuloPausa } from '/desktop/format.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const cti = new Cti({
  checkSession: async () => (await fetch('/api/me', { credentials: 'same-origin' })).status !== 401,
});
window.atendeCti = cti; // for the browser tests

/** The last /api/wallboard answer. */
let board = null;
let fila = params.get('fila') || '';
let equipe = fila ? '' : params.get('equipe') || '';
let me = null;
let podeAgir = false;

// ---- messages ------------------------------------------------------------------------

let avisoTimer = null;
function aviso(texto) {
  const el = $('aviso');
  el.textContent = texto;
  el.hidden = !texto;
  clearTimeout(avisoTimer);
  if (texto) avisoTimer = setTimeout(() => { el.hidden = true; }, 10000);
}

// ---- formatting ----------------------------------------------------------------------

function pct(ratio) {
  const p = ratio?.percent;
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  return `${p.toFixed(1).replace('.', ',')} %`;
}

function segundos(mean) {
  const s = mean?.seconds;
  return typeof s === 'number' ? duracao(s * 1000) : '—';
}

function celula(tr, texto, classe) {
  const td = document.createElement('td');
  td.textContent = texto;
  if (classe) td.className = classe;
  tr.appendChild(td);
  return td;
}

// ---- what is shown -------------------------------------------------------------------

/** The team picked, as /api/wallboard lists it (null: none, or not known yet). */
function equipeEscolhida() {
  return equipe ? (board?.teams ?? []).find((t) => t.team === equipe) ?? null : null;
}

function naFila(queues) {
  const t = equipeEscolhida();
  if (equipe) return !!t && Array.isArray(queues) && queues.some((q) => t.queues.includes(q));
  return !fila || (Array.isArray(queues) && queues.includes(fila));
}

/** Calls still waiting for a person: in a queue, or ringing at an agent. */
function emEspera() {
  return [...cti.state.calls.values()]
    .filter((c) => (c.state === 'waiting' || c.state === 'ringing') && c.queue && naFila([c.queue]))
    .sort((a, b) => (a.since_ms ?? 0) - (b.since_ms ?? 0));
}

function limites() {
  return board?.settings ?? { service_level_min_percent: 90, wait_alert_secs: 30, min_ready_agents: 1 };
}

function indicador(id, valor, alerta) {
  const el = $(id);
  el.querySelector('.valor').textContent = valor;
  el.classList.toggle('alerta', !!alerta);
}

function abaixoDaMeta(ratio) {
  const p = ratio?.percent;
  return typeof p === 'number' && p < limites().service_level_min_percent;
}

function renderFiguras() {
  if (!board) return;
  const t = board.today;
  const s = t.stats;
  indicador('ind-ns-agora', pct(board.now.kpis.ns), abaixoDaMeta(board.now.kpis.ns));
  $('ns-agora-janela').textContent = `desde ${hora(board.now.from_ms)} (${board.now.kpis.ns.numerator}/${board.now.kpis.ns.denominator})`;
  indicador('ind-ns-hoje', pct(t.kpis.ns), abaixoDaMeta(t.kpis.ns));
  $('ns-hoje-base').textContent = `meta ≥ ${limites().service_level_min_percent} % (${t.kpis.ns.numerator}/${t.kpis.ns.denominator})`;
  indicador('ind-tma', segundos(t.kpis.tma), false);
  $('data').textContent = `${board.date} (${board.timezone})`;
  const humanos = s.answered_within + s.answered_beyond;
  const valores = {
    offered: s.offered,
    received: s.offered - s.not_received,
    not_received: s.not_received,
    abandoned: s.ivr_abandon + s.queue_abandon_within + s.queue_abandon_beyond,
    lost: s.lost,
    ivr_served: s.ivr_served,
    human_answered: humanos,
  };
  for (const [chave, v] of Object.entries(valores)) {
    const dd = document.querySelector(`#totais [data-chave="${chave}"] dd`);
    if (dd) dd.textContent = String(v);
  }
  const tb = $('sem-retorno').querySelector('tbody');
  tb.replaceChildren();
  for (const c of board.not_called_back) {
    const tr = document.createElement('tr');
    tr.dataset.protocolo = c.protocol;
    celula(tr, hora(c.arrived_ms));
    celula(tr, c.caller);
    celula(tr, c.queue ?? '—');
    celula(tr, c.subcode ? `${c.outcome_label} (${c.subcode})` : c.outcome_label);
    celula(tr, duracao(c.wait_ms), 'num');
    tb.appendChild(tr);
  }
  $('sem-retorno-vazio').hidden = board.not_called_back.length > 0;
  const f = $('formulas');
  f.replaceChildren(...[...board.formulas, ...board.notes].map((n) => {
    const li = document.createElement('li');
    li.textContent = n;
    return li;
  }));
  const l = limites();
  $('limites').replaceChildren(...[
    `Em vermelho: NS abaixo de ${l.service_level_min_percent} %`,
    `espera acima de ${l.wait_alert_secs} s`,
    `menos de ${l.min_ready_agents} atendente(s) disponível(is)`,
  ].map((n) => {
    const li = document.createElement('li');
    li.textContent = n;
    return li;
  }));
  const sel = $('fila');
  if (sel.options.length === 1) {
    for (const q of board.queues) sel.appendChild(new Option(q, q));
    sel.value = fila;
  }
  const eq = $('equipe');
  if (eq.options.length === 1 && board.teams?.length) {
    for (const t of board.teams) eq.appendChild(new Option(t.name, t.team));
    eq.value = equipe;
    $('rotulo-equipe').hidden = false;
  }
}

function botao(texto, acao) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'discreto';
  b.textContent = texto;
  b.addEventListener('click', acao);
  return b;
}

function renderEspera() {
  const lista = emEspera();
  const tb = $('espera').querySelector('tbody');
  tb.replaceChildren();
  const limite = limites().wait_alert_secs * 1000;
  let maior = null;
  for (const c of lista) {
    const espera = cti.since(c.since_ms);
    maior = maior === null ? espera : Math.max(maior, espera);
    const tr = document.createElement('tr');
    tr.dataset.protocolo = c.protocol;
    tr.classList.toggle('alerta', espera > limite);
    celula(tr, c.protocol);
    celula(tr, c.queue);
    celula(tr, c.state === 'ringing' ? `tocando em ${c.agent ?? '—'}` : 'na fila');
    celula(tr, duracao(espera), 'num espera');
    const acoes = celula(tr, '', 'controle-sup');
    if (podeAgir && c.state === 'waiting') {
      const span = document.createElement('span');
      span.className = 'acoes-linha';
      const sel = document.createElement('select');
      sel.setAttribute('aria-label', 'Atendente');
      for (const a of agentesVisiveis()) {
        if (a.state === 'available') sel.appendChild(new Option(a.name || a.agent, a.agent));
      }
      span.append(sel, botao('Puxar para', () => puxar(c.protocol, sel.value)));
      acoes.appendChild(span);
    }
    tb.appendChild(tr);
  }
  $('espera-vazia').hidden = lista.length > 0;
  indicador('ind-espera', String(lista.length), false);
  indicador('ind-maior-espera', maior === null ? '—' : duracao(maior), maior !== null && maior > limite);
}

/** The agents shown: the configured ones of the queue(s) (from /api/wallboard), with their
 * live state from the CTI. */
function agentesVisiveis() {
  const nomes = new Map((board?.agents ?? []).map((a) => [a.agent, a]));
  const out = [];
  for (const a of cti.state.agents.values()) {
    const conf = nomes.get(a.agent);
    // A team shows its own agents, whatever queues they serve.
    if (equipe ? !equipeEscolhida()?.agents.includes(a.agent) : !naFila(a.queues?.length ? a.queues : conf?.queues)) continue;
    out.push({ ...conf, ...a, name: conf?.name ?? '' });
  }
  return out.sort((x, y) => String(x.name || x.agent).localeCompare(String(y.name || y.agent)));
}

function renderAgentes() {
  const tb = $('atendentes').querySelector('tbody');
  tb.replaceChildren();
  let prontos = 0;
  let logados = 0;
  for (const a of agentesVisiveis()) {
    if (a.state !== 'logged_out') logados += 1;
    if (a.state === 'available') prontos += 1;
    const tr = document.createElement('tr');
    tr.dataset.agente = a.agent;
    tr.dataset.estado = a.state;
    celula(tr, a.name || a.agent);
    celula(tr, a.agent);
    const est = celula(tr, '');
    const span = document.createElement('span');
    span.className = 'estado';
    span.dataset.estado = a.state;
    span.textContent = ESTADOS[a.state] ?? a.state;
    est.appendChild(span);
    celula(tr, duracao(cti.since(a.since_ms)), 'num');
    celula(tr, a.first_login_ms ? hora(a.first_login_ms) : '—');
    celula(tr, String(a.answered ?? 0), 'num atendidas');
    celula(tr, typeof a.aht_s === 'number' ? duracao(a.aht_s * 1000) : '—', 'num');
    const chamada = a.call ? cti.state.calls.get(a.call) : null;
    celula(tr, a.call ?? '—');
    celula(tr, chamada?.since_ms && a.state === 'on_call' ? duracao(cti.since(chamada.answered_ms ?? a.since_ms)) : '—', 'num');
    celula(tr, a.state === 'paused' ? `${a.reason ? rotuloPausa(board?.pause_reasons, a.reason) : ''} · ${duracao(cti.since(a.since_ms))}` : '—', 'pausa');
    const acoes = celula(tr, '', 'controle-sup');
    if (podeAgir && a.state !== 'logged_out') {
      const span2 = document.createElement('span');
      span2.className = 'acoes-linha';
      if (a.state !== 'paused') span2.append(botao('Pausar', () => forcar(a.agent, 'pause')));
      if (a.state === 'paused') span2.append(botao('Disponível', () => forcar(a.agent, 'ready')));
      span2.append(botao('Deslogar', () => forcar(a.agent, 'logout')));
      acoes.appendChild(span2);
    }
    tb.appendChild(tr);
  }
  const min = limites().min_ready_agents;
  indicador('ind-prontos', String(prontos), prontos < min);
  $('prontos-de').textContent = `de ${logados} logados · mínimo ${min}`;
}

function renderFilas() {
  const tb = $('filas').querySelector('tbody');
  tb.replaceChildren();
  const limite = limites().wait_alert_secs * 1000;
  for (const q of [...cti.state.queues.values()].sort((a, b) => a.queue.localeCompare(b.queue))) {
    if (!naFila([q.queue])) continue;
    const tr = document.createElement('tr');
    tr.dataset.fila = q.queue;
    // The name, and under it what a supervisor changed (it lasts until one lifts it).
    const nome = celula(tr, q.queue, 'nome');
    const marcas = [];
    if (q.closed_by_hand) marcas.push(['fechada pelo supervisor', 'fechada']);
    else if (q.open === false) marcas.push(['fechada (horário)', 'fechada']);
    if (q.priority !== null && q.priority !== undefined) marcas.push([`prioridade ${q.priority}`, 'prioridade']);
    for (const [texto, classe] of marcas) {
      const m = document.createElement('span');
      m.className = `marca-fila ${classe}`;
      m.textContent = texto;
      nome.append(document.createElement('br'), m);
    }
    tr.classList.toggle('fechada', q.open === false);
    celula(tr, String(q.waiting ?? 0), 'num');
    const espera = q.oldest_since_ms ? cti.since(q.oldest_since_ms) : null;
    celula(tr, espera === null ? '—' : duracao(espera), espera !== null && espera > limite ? 'num alerta' : 'num');
    celula(tr, String(q.staffed ?? 0), 'num');
    celula(tr, String(q.available ?? 0), 'num');
    const acoes = celula(tr, '', 'controle-sup');
    if (podeAgir) {
      const span = document.createElement('span');
      span.className = 'acoes-linha';
      // Only what applies now: one of close / reopen, one of priority / lift it.
      span.append(
        q.closed_by_hand ? botao('Abrir', () => fila_(q.queue, 'open')) : botao('Fechar', () => fila_(q.queue, 'close')),
        q.priority !== null && q.priority !== undefined
          ? botao('Prioridade normal', () => fila_(q.queue, 'lift_priority'))
          : botao('Prioridade', () => prioridade(q.queue)),
      );
      acoes.appendChild(span);
    }
    tb.appendChild(tr);
  }
}

function render() {
  renderFiguras();
  renderEspera();
  renderAgentes();
  renderFilas();
  $('relogio').textContent = new Date(cti.serverNow()).toLocaleTimeString('pt-BR');
}

// ---- the floor controls (supervisors, admins) ------------------------------------------

async function postar(caminho, corpo) {
  try {
    const r = await fetch(caminho, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(corpo),
    });
    if (r.ok) return true;
    const b = await r.json().catch(() => ({}));
    aviso(b.message ?? b.error ?? `Recusado (erro ${r.status}).`);
  } catch {
    aviso('Servidor indisponível.');
  }
  return false;
}

function motivo(pergunta) {
  const m = window.prompt(pergunta);
  return m === null ? null : m.trim();
}

async function forcar(agente, acao) {
  const corpo = {};
  if (acao === 'pause') {
    // The configured reasons by label; the label or the code typed is sent as the code.
    const lista = board?.pause_reasons ?? [];
    const opcoes = lista.map((p) => `${p.label} (${p.code})`).join(', ');
    const r = motivo(opcoes ? `Motivo da pausa: ${opcoes}` : 'Motivo da pausa (um dos motivos configurados):');
    if (r === null) return;
    corpo.reason = lista.find((p) => p.code === r || p.label.toLowerCase() === r.toLowerCase())?.code ?? r;
  }
  const por = motivo('Por quê? (fica no registro de auditoria)');
  if (por === null) return;
  corpo.why = por;
  if (await postar(`/api/floor/agents/${encodeURIComponent(agente)}/${acao}`, corpo)) aviso('Feito.');
}

async function puxar(protocolo, agente) {
  if (!agente) { aviso('Nenhum atendente disponível para receber a chamada.'); return; }
  const por = motivo('Por quê? (fica no registro de auditoria)');
  if (por === null) return;
  if (await postar(`/api/floor/calls/${encodeURIComponent(protocolo)}/assign`, { agent: agente, why: por })) aviso('Chamada enviada ao atendente.');
}

async function fila_(q, acao) {
  const por = motivo('Por quê? (fica no registro de auditoria)');
  if (por === null) return;
  const feito = { close: 'Fila fechada.', open: 'Fila aberta.', lift_priority: 'Prioridade normal.' };
  if (await postar(`/api/floor/queues/${encodeURIComponent(q)}/${acao}`, { why: por })) aviso(feito[acao] ?? 'Feito.');
}

async function prioridade(q) {
  const p = motivo('Nova prioridade da fila (número; maior atende primeiro):');
  if (p === null) return;
  const por = motivo('Por quê? (fica no registro de auditoria)');
  if (por === null) return;
  if (await postar(`/api/floor/queues/${encodeURIComponent(q)}/priority`, { priority: Number(p), why: por })) aviso('Prioridade alterada.');
}

// ---- /api/wallboard ------------------------------------------------------------------

let buscando = false;
let deNovo = false;
let ultima = 0;
let agendada = null;

async function buscar() {
  if (buscando) { deNovo = true; return; }
  buscando = true;
  ultima = Date.now();
  try {
    const q = fila ? `?queue=${encodeURIComponent(fila)}` : equipe ? `?team=${encodeURIComponent(equipe)}` : '';
    const r = await fetch(`/api/wallboard${q}`, { credentials: 'same-origin' });
    if (r.status === 401) { location.assign('/'); return; }
    if (!r.ok) { aviso(`Não foi possível ler os números de hoje (erro ${r.status}).`); return; }
    board = await r.json();
    render();
  } catch {
    aviso('Servidor indisponível; os números de hoje voltam quando ele responder.');
  } finally {
    buscando = false;
    if (deNovo) { deNovo = false; buscar(); }
  }
}

/** Reads the figures again soon: at most once every 2 s. */
function atualizar() {
  if (agendada) return;
  const espera = Math.max(0, 2000 - (Date.now() - ultima));
  agendada = setTimeout(() => { agendada = null; buscar(); }, espera);
}

// ---- start ---------------------------------------------------------------------------

let esperando = -1;
cti.addEventListener('change', (ev) => {
  const what = ev.detail?.what;
  if (what === 'figures' || what === 'call' || what === 'snapshot') atualizar();
  if (what === 'queue') {
    // A caller joined or left a queue: the CTI sends no event per waiting caller, so
    // the snapshot brings their list (and their waits).
    const n = [...cti.state.queues.values()].reduce((s, q) => s + (q.waiting ?? 0), 0);
    if (n !== esperando) { esperando = n; cti.requestSnapshot(); }
  }
  render();
});
cti.addEventListener('connection', (ev) => {
  const el = $('conexao');
  el.dataset.estado = ev.detail.state;
  el.textContent = CONEXAO[ev.detail.state] ?? ev.detail.state;
});
cti.addEventListener('closed', (ev) => aviso(ev.detail.message));
cti.addEventListener('problem', (ev) => aviso(ev.detail.message));

function telaCheia() {
  document.body.classList.add('tv');
  document.documentElement.requestFullscreen?.().catch(() => {});
}

$('btn-tela-cheia').addEventListener('click', telaCheia);
/** Shows one queue or one team (picking one clears the other), kept in the URL. */
function filtrar(novaFila, novaEquipe) {
  fila = novaFila;
  equipe = novaFila ? '' : novaEquipe;
  $('fila').value = fila;
  $('equipe').value = equipe;
  const u = new URL(location.href);
  if (fila) u.searchParams.set('fila', fila); else u.searchParams.delete('fila');
  if (equipe) u.searchParams.set('equipe', equipe); else u.searchParams.delete('equipe');
  history.replaceState(null, '', u);
  buscar();
  render();
}
$('fila').addEventListener('change', () => filtrar($('fila').value, ''));
$('equipe').addEventListener('change', () => filtrar('', $('equipe').value));
$('btn-sair').addEventListener('click', async () => {
  cti.stop();
  try { await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' }); } catch { /* leaving anyway */ }
  location.assign('/');
});
if (params.get('tv') === '1') document.body.classList.add('tv');

(async () => {
  const r = await fetch('/api/me', { credentials: 'same-origin' }).catch(() => null);
  if (!r || r.status === 401) { location.assign('/'); return; }
  me = await r.json();
  $('operador').textContent = me.display_name ?? me.user;
  podeAgir = me.role === 'supervisor' || me.role === 'admin';
  document.body.classList.toggle('somente-leitura', !podeAgir);
  await buscar();
  cti.start();
  setInterval(() => render(), 1000);
  setInterval(() => buscar(), 60000);
})();
