// The agent desktop page: who is logged in (/api/me), the CTI connection (cti.js) and
// what the operator sees and clicks. Renders from the Cti state on every change; timers
// tick once a second from server timestamps corrected for the clock skew.

import { Cti } from './cti.js';
import { CONEXAO, ESTADOS, PERDAS, PROXIMOS, duracao, hora, opcoes, percentual, rotuloPausa } from './format.js';

const $ = (id) => document.getElementById(id);
const cti = new Cti({
  storage: globalThis.sessionStorage ?? null,
  checkSession: async () => (await fetch('/api/me', { credentials: 'same-origin' })).status !== 401,
});
window.atendeCti = cti; // for the browser tests and for support at the operator's desk

let pauseReasons = [];
/** The protocol whose attended transfer this desk started (until done or called off). */
let consulta = null;
let dispositions = [];

// ---- messages for the operator -------------------------------------------------------

let avisoTimer = null;
let avisoFixo = false;
/** Shows a message; a lasting one (the session ended) is not pushed out by passing ones. */
function aviso(texto, fixo = false) {
  if (avisoFixo && !fixo && texto) return;
  avisoFixo = fixo && !!texto;
  const el = $('aviso');
  el.textContent = texto;
  el.hidden = !texto;
  clearTimeout(avisoTimer);
  if (texto && !fixo) avisoTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

/** Runs a command; a refusal is shown with the server's pt-BR message. */
async function comando(nome, args = {}) {
  const r = await cti.command(nome, args);
  if (!r.ok) aviso(r.error?.message ?? 'Comando recusado.');
  return r;
}

// ---- lists from the server -----------------------------------------------------------

/** A list the server offers (`[{code, label, …}]`), or null when it cannot be read. */
async function lista(caminho) {
  try {
    const r = await fetch(caminho, { credentials: 'same-origin' });
    if (!r.ok) return null;
    const body = await r.json();
    if (!Array.isArray(body)) return null;
    // `queues` (dispositions only): the queues a code applies to; absent = every queue.
    return opcoes(body).map((o, i) => {
      const q = body[i]?.queues;
      return Array.isArray(q) ? { ...o, queues: q } : o;
    });
  } catch {
    return null;
  }
}

function preencher(select, itens, vazio) {
  const atual = select.value;
  select.replaceChildren();
  if (itens.length === 0) {
    select.append(new Option(vazio, ''));
    return;
  }
  for (const o of itens) select.append(new Option(o.label, o.code));
  if (itens.some((o) => o.code === atual)) select.value = atual;
}

/** Reads both lists again (after every snapshot: a config reload may have changed them). */
async function carregarListas() {
  pauseReasons = (await lista('/api/pause_reasons')) ?? pauseReasons;
  preencher($('motivo-pausa'), pauseReasons, '(lista indisponível)');
  dispositions = (await lista('/api/dispositions')) ?? dispositions;
  preencherAssuntos();
}

/** The dispositions that apply to the pop-up call's queue (all when it has none). */
let filaDosAssuntos;
function preencherAssuntos() {
  const p = cti.state.pop;
  const call = p ? (cti.state.calls.get(p) ?? cti.state.popCall) : null;
  const fila = call?.queue ?? null;
  const itens = dispositions.filter((o) => !o.queues || fila === null || o.queues.includes(fila));
  const chave = `${fila}|${itens.map((o) => o.code).join(',')}`;
  if (chave === filaDosAssuntos) return;
  filaDosAssuntos = chave;
  preencher($('registro-codigo'), itens, '(lista indisponível)');
}

function rotulo(lista, code) {
  return lista.find((o) => o.code === code)?.label ?? code;
}

// ---- rendering -----------------------------------------------------------------------

function renderConexao() {
  const el = $('conexao');
  el.dataset.estado = cti.connection;
  el.textContent = CONEXAO[cti.connection] ?? cti.connection;
}

function renderEstado() {
  const a = cti.state.agent;
  const barra = $('barra-estado');
  const estado = a?.state ?? 'logged_out';
  barra.dataset.estado = estado;
  // Before the CTI's welcome nothing is known yet; after it, a user without an ACD agent
  // (a supervisor) has no state bar of their own.
  let nome = a ? (ESTADOS[estado] ?? estado) : ESTADOS.logged_out;
  if (cti.state.user === null) nome = '—';
  else if (cti.state.agentId === null) nome = 'Sem operador vinculado';
  $('estado-nome').textContent = nome;
  $('estado-motivo').textContent = a?.reason ? `(${rotuloPausa(pauseReasons, a.reason)})` : '';
  const prox = $('estado-proximo');
  prox.hidden = !a?.next_state;
  prox.textContent = a?.next_state ? `Depois: ${PROXIMOS[a.next_state] ?? a.next_state}` : '';
  const semAgente = cti.state.agentId === null;
  $('btn-entrar-filas').hidden = semAgente || estado !== 'logged_out';
  renderEscolhaFilas(semAgente || estado !== 'logged_out');
  $('btn-sair-filas').hidden = semAgente || estado === 'logged_out';
  $('btn-pronto').hidden = semAgente || estado !== 'paused';
  $('btn-pausa').hidden = semAgente || !['available', 'paused'].includes(estado);
  $('motivo-pausa').parentElement.hidden = $('btn-pausa').hidden && !['on_call', 'wrap_up', 'ringing'].includes(estado);
  $('btn-fim-pos').hidden = estado !== 'wrap_up';
  // An outside call is placed from available (the phone rings first, then the number).
  $('form-ligar').hidden = semAgente || estado !== 'available';
  const ocupado = ['ringing', 'on_call', 'wrap_up'].includes(estado);
  $('grupo-proximo').hidden = !ocupado;
  $('btn-proximo').hidden = !ocupado;
}

/** The agent's queues to log in to (all ticked until the operator unticks some). */
function renderEscolhaFilas(oculto) {
  const box = $('escolha-filas');
  const filas = [...cti.state.queues.keys()].sort();
  box.hidden = oculto || filas.length < 2;
  const lista = $('lista-filas');
  const atuais = [...lista.querySelectorAll('input')].map((i) => i.value).join(',');
  if (atuais === filas.join(',')) return;
  lista.replaceChildren();
  for (const f of filas) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.value = f;
    input.checked = true;
    label.append(input, ` ${f}`);
    lista.append(label);
  }
}

function dd(dl, chave, valor) {
  const dt = document.createElement('dt');
  dt.textContent = chave;
  const d = document.createElement('dd');
  d.textContent = valor;
  dl.append(dt, d);
}

/** The badge saying a supervisor monitors the call shown (issue 20). */
const MONITORING = { listen: 'Supervisor ouvindo', whisper: 'Supervisor sussurrando', barge: 'Supervisor em conferência' };

function renderSupervisor() {
  const m = cti.state.monitoring;
  const badge = $('pop-supervisor');
  const shown = Boolean(m && m.protocol === cti.state.pop && MONITORING[m.mode]);
  badge.hidden = !shown;
  badge.textContent = shown ? MONITORING[m.mode] : '';
}

function renderPop() {
  renderSupervisor();
  const p = cti.state.pop;
  const pop = $('pop');
  if (!p) {
    pop.hidden = true;
    return;
  }
  const ended = cti.state.popCall?.protocol === p ? cti.state.popCall : null;
  const call = cti.state.calls.get(p) ?? ended;
  const entry = cti.history.find((h) => h.protocol === p);
  const c = call ?? entry ?? { protocol: p };
  pop.hidden = false;
  pop.dataset.protocolo = p;
  preencherAssuntos();
  const estado = call?.state ?? 'ended';
  pop.dataset.estado = estado;
  $('pop-titulo').textContent = estado === 'ringing' ? 'Chamada chegando' : 'Chamada';
  $('pop-estado').textContent = {
    ringing: 'tocando', talking: 'em conversa', held: 'em espera', ended: 'encerrada',
    transferred: 'transferida',
  }[estado] ?? estado;
  const t = c.transfer;
  const origem = $('pop-transferencia');
  origem.hidden = !t;
  origem.textContent = t
    ? `Transferida por ${t.from} (${t.mode === 'attended' ? 'consulta' : 'direta'})`
    : '';
  $('pop-protocolo').textContent = p;
  $('pop-chamador').textContent = c.caller ?? '—';
  $('pop-did').textContent = c.did ?? '—';
  $('pop-fila').textContent = c.queue ?? '—';
  $('pop-espera').textContent = Number.isFinite(c.waited_ms) ? duracao(c.waited_ms) : '—';
  const ura = $('pop-ura');
  ura.replaceChildren();
  const campos = Object.entries(c.ivr ?? {});
  for (const [k, v] of campos) dd(ura, k, String(v));
  $('pop-ura-vazia').hidden = campos.length > 0;
  const hist = $('pop-historico');
  hist.replaceChildren();
  for (const h of c.history ?? []) {
    const tr = hist.insertRow();
    tr.insertCell().textContent = Number.isFinite(h.at_ms) ? new Date(h.at_ms).toLocaleString('pt-BR') : '—';
    tr.insertCell().textContent = h.protocol ?? '';
    tr.insertCell().textContent = h.disposition ? rotulo(dispositions, h.disposition) : '—';
    tr.insertCell().textContent = h.note ?? '';
  }
  $('pop-historico-vazio').hidden = (c.history ?? []).length > 0;
  const url = $('pop-url');
  // Only web links: a template must not turn into javascript: or a local file.
  const ok = typeof c.url === 'string' && /^https?:\/\//i.test(c.url);
  url.hidden = !ok;
  if (ok) url.href = c.url;
  $('btn-atender').hidden = estado !== 'ringing';
  $('btn-espera').hidden = !['talking', 'held'].includes(estado);
  $('btn-espera').textContent = estado === 'held' ? 'Retomar' : 'Colocar em espera';
  $('btn-desligar').hidden = !['talking', 'held', 'ringing'].includes(estado);
  $('form-transferir').hidden = !['talking', 'held'].includes(estado);
  if (consulta === p && ['ended', 'transferred'].includes(estado)) consulta = null;
  $('consulta').hidden = consulta !== p;
  // A callback is scheduled once the call has ended (its log is its own until then).
  $('form-retorno').hidden = !['ended', 'transferred'].includes(estado);
  // Registered once answered: during the call, in wrap-up or after.
  $('form-registro').hidden = estado === 'ringing';
  const reg = entry?.code;
  $('registro-msg').textContent = reg ? `Registrado: ${rotulo(dispositions, reg)}` : '';
}

function renderFilas() {
  const body = $('filas');
  body.replaceChildren();
  for (const q of [...cti.state.queues.values()].sort((a, b) => a.queue.localeCompare(b.queue))) {
    const tr = body.insertRow();
    tr.dataset.fila = q.queue;
    tr.insertCell().textContent = q.queue;
    tr.insertCell().textContent = String(q.waiting ?? 0);
    const espera = tr.insertCell();
    espera.className = 'tempo';
    if (q.oldest_since_ms) espera.dataset.desde = String(q.oldest_since_ms);
    espera.textContent = q.oldest_since_ms ? duracao(cti.since(q.oldest_since_ms)) : '—';
    tr.insertCell().textContent = `${q.available ?? 0} de ${q.staffed ?? 0}`;
  }
}

function renderNumeros() {
  const f = cti.state.figures ?? { own: {}, group: {}, targets: {} };
  const own = f.own ?? {};
  const group = f.group ?? {};
  const targets = f.targets ?? {};
  const n = (x) => (Number.isFinite(x) ? String(x) : '—');
  const s = (x) => (Number.isFinite(x) ? `${Math.round(x / 1000)} s` : '—');
  $('num-atendidas-eu').textContent = n(own.answered);
  $('num-atendidas-grupo').textContent = n(group.answered);
  $('num-tma-eu').textContent = s(own.aht_ms);
  $('num-tma-grupo').textContent = s(group.aht_ms);
  $('num-tma-meta').textContent = s(targets.aht_ms);
  $('num-ns-eu').textContent = percentual(own.service_level);
  $('num-ns-grupo').textContent = percentual(group.service_level);
  $('num-ns-meta').textContent = percentual(targets.service_level);
  // Abandonment is a ceiling, registered calls a floor (the contract's IAR).
  $('num-tab-meta').textContent = Number.isFinite(targets.abandon_rate) ? `≤ ${percentual(targets.abandon_rate)}` : '—';
  $('num-iar-meta').textContent = Number.isFinite(targets.registration_rate) ? `≥ ${percentual(targets.registration_rate)}` : '—';
  const acima = Number.isFinite(own.aht_ms) && Number.isFinite(targets.aht_ms) && own.aht_ms > targets.aht_ms;
  $('num-tma-eu').classList.toggle('fora-da-meta', acima);
  const nsBaixo = Number.isFinite(group.service_level) && Number.isFinite(targets.service_level)
    && group.service_level < targets.service_level;
  $('num-ns-grupo').classList.toggle('fora-da-meta', nsBaixo);
}

const SITUACAO = {
  oferecida: 'oferecida', atendida: 'atendida', encerrada: 'encerrada',
  transferida: 'transferida', perdida: 'perdida',
};

function renderHistorico() {
  const body = $('historico');
  body.replaceChildren();
  for (const h of cti.history) {
    const tr = body.insertRow();
    tr.dataset.protocolo = h.protocol;
    tr.insertCell().textContent = hora(h.at_ms);
    tr.insertCell().textContent = h.protocol;
    tr.insertCell().textContent = h.caller ?? '—';
    let sit = SITUACAO[h.outcome] ?? h.outcome ?? '—';
    if (h.outcome === 'perdida' && h.reason) sit += ` (${PERDAS[h.reason] ?? h.reason})`;
    tr.insertCell().textContent = sit;
    const fala = h.answered_ms && h.ended_ms ? h.ended_ms - h.answered_ms : NaN;
    tr.insertCell().textContent = Number.isFinite(fala) ? duracao(fala) : '—';
    tr.insertCell().textContent = h.code ? rotulo(dispositions, h.code) : '—';
  }
  $('historico-vazio').hidden = cti.history.length > 0;
}

function renderTudo() {
  renderConexao();
  renderEstado();
  renderPop();
  renderFilas();
  renderNumeros();
  renderHistorico();
  tique();
}

/** The live timers: state, call and the queues' longest waits. */
function tique() {
  const a = cti.state.agent;
  $('estado-tempo').textContent = a?.since_ms ? duracao(cti.since(a.since_ms)) : '0:00';
  const call = cti.state.pop ? cti.state.calls.get(cti.state.pop) : null;
  const desde = call?.answered_ms ?? call?.since_ms;
  $('pop-tempo').textContent = call && desde ? duracao(cti.since(desde)) : '';
  for (const td of document.querySelectorAll('#filas td[data-desde]')) {
    td.textContent = duracao(cti.since(Number(td.dataset.desde)));
  }
}

// ---- the browser notification when the tab is hidden ---------------------------------

function notificar(call) {
  if (!document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
  // Queue and protocol only: a lock screen is no place for a citizen's number.
  const n = new Notification('Chamada chegando', {
    body: `Fila ${call.queue ?? '—'} · protocolo ${call.protocol}`,
    tag: `atende-${call.protocol}`,
    requireInteraction: true,
  });
  n.onclick = () => { window.focus(); n.close(); };
}

function pedirPermissao() {
  if ('Notification' in window && Notification.permission === 'default') {
    Notification.requestPermission().catch(() => {});
  }
}

// ---- the operator's clicks -----------------------------------------------------------

function protocoloAtual() {
  return cti.state.pop ?? cti.state.agent?.call ?? null;
}

$('btn-entrar-filas').addEventListener('click', () => {
  pedirPermissao();
  const marcadas = [...document.querySelectorAll('#lista-filas input')];
  const escolhidas = marcadas.filter((i) => i.checked).map((i) => i.value);
  if (marcadas.length > 0 && escolhidas.length === 0) { aviso('Escolha ao menos uma fila.'); return; }
  // All of them is the plain login (the server's list may have grown meanwhile).
  comando('login', escolhidas.length < marcadas.length ? { queues: escolhidas } : {});
});
$('btn-sair-filas').addEventListener('click', () => comando('logout'));
$('btn-pronto').addEventListener('click', () => { pedirPermissao(); comando('ready'); });
$('btn-pausa').addEventListener('click', () => {
  const reason = $('motivo-pausa').value;
  if (!reason) { aviso('Escolha o motivo da pausa.'); return; }
  comando('pause', { reason });
});
$('btn-fim-pos').addEventListener('click', () => comando('end_wrap_up'));
$('form-ligar').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const number = $('ligar-numero').value.trim();
  if (!number) { aviso('Informe o número.'); return; }
  const r = await comando('call', { number });
  if (r.ok) {
    $('ligar-numero').value = '';
    aviso('Atenda o seu telefone: em seguida chamamos o número.');
  }
});
$('btn-proximo').addEventListener('click', () => {
  const state = $('proximo-estado').value;
  if (!state) return;
  const args = { state };
  if (state === 'paused') {
    args.reason = $('motivo-pausa').value;
    if (!args.reason) { aviso('Escolha o motivo da pausa.'); return; }
  }
  comando('next_state', args);
});
$('btn-atender').addEventListener('click', () => comando('answer'));
$('btn-desligar').addEventListener('click', () => {
  const protocol = protocoloAtual();
  if (protocol) comando('hang_up', { protocol });
});
$('btn-espera').addEventListener('click', () => {
  const protocol = protocoloAtual();
  if (!protocol) return;
  const held = cti.state.calls.get(protocol)?.state === 'held';
  comando(held ? 'resume' : 'hold', { protocol });
});
$('form-transferir').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const protocol = protocoloAtual();
  const destino = $('transf-destino').value.trim();
  const tipo = $('transf-tipo').value;
  // The survey needs no destination and is always direct: the operator's part ends there.
  const pesquisa = tipo === 'survey';
  if (!protocol || (!pesquisa && !destino)) { aviso('Informe o destino da transferência.'); return; }
  const mode = pesquisa ? 'blind'
    : document.querySelector('input[name="modo"]:checked')?.value ?? 'blind';
  const to = pesquisa ? 'survey' : { [tipo]: destino };
  const r = await comando('transfer', { protocol, to, mode });
  if (r.ok && mode === 'attended') {
    consulta = protocol;
    aviso('Consultando o destino; o cidadão aguarda em espera.');
    renderPop();
  }
});
async function fimDaConsulta(nome) {
  const protocol = consulta;
  if (!protocol) return;
  const r = await comando(nome, { protocol });
  // Done, called off, or nothing under way any more: the buttons go.
  if (r.ok || r.error?.code === 'invalid_state' && /nenhuma/.test(r.error.message ?? '')) consulta = null;
  renderPop();
}
$('btn-concluir-transf').addEventListener('click', () => fimDaConsulta('complete_transfer'));
$('btn-cancelar-transf').addEventListener('click', () => fimDaConsulta('cancel_transfer'));
$('form-retorno').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const protocol = protocoloAtual();
  const quando = $('retorno-quando').value;
  const at = quando ? new Date(quando).getTime() : NaN;
  if (!protocol || !Number.isFinite(at)) { $('retorno-msg').textContent = 'Informe data e hora.'; return; }
  const args = { protocol, at_ms: at };
  const numero = $('retorno-numero').value.trim();
  if (numero) args.number = numero;
  $('btn-agendar').disabled = true;
  const r = await comando('schedule_callback', args);
  $('btn-agendar').disabled = false;
  $('retorno-msg').textContent = r.ok
    ? `Retorno agendado para ${new Date(at).toLocaleString('pt-BR')}`
    : (r.error?.message ?? 'Agendamento recusado.');
});
$('form-registro').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const protocol = protocoloAtual();
  const code = $('registro-codigo').value;
  const note = $('registro-nota').value.trim();
  if (!protocol) return;
  if (!code) { $('registro-msg').textContent = 'Escolha o assunto.'; return; }
  $('btn-registrar').disabled = true;
  // Over the CTI when it is up; without it the same registration goes over HTTP, so a
  // dropped websocket does not keep the operator from finishing the call's record.
  const r = cti.connection === 'conectado'
    ? await comando('register', { protocol, code, note })
    : await registrarPorHttp(protocol, code, note);
  $('btn-registrar').disabled = false;
  if (r.ok) {
    cti.remember(protocol, { code, note });
    $('registro-nota').value = '';
    renderTudo();
  } else {
    $('registro-msg').textContent = r.error?.message ?? 'Registro recusado.';
  }
});
/** `POST /api/calls/{p}/registrations`; answers like a CTI reply. */
async function registrarPorHttp(protocol, code, note) {
  try {
    const r = await fetch(`/api/calls/${encodeURIComponent(protocol)}/registrations`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code, note }),
    });
    if (r.ok) return { ok: true };
    const body = await r.json().catch(() => ({}));
    // 422 and 409 carry the registration rule's own pt-BR words; the rest are mapped.
    const proprio = (r.status === 422 || r.status === 409) && typeof body.error === 'string';
    const message = proprio ? body.error : (RECUSAS[r.status] ?? 'Registro recusado pelo servidor.');
    return { ok: false, error: { code: body.code ?? 'unavailable', message } };
  } catch {
    return { ok: false, error: { code: 'unavailable', message: 'Sem conexão com o servidor. Tente de novo.' } };
  }
}

/** The HTTP API's other refusals in the operator's words (its `error` text is English). */
const RECUSAS = {
  400: 'Protocolo inválido.',
  403: 'Esta chamada não foi atendida por você.',
  404: 'Chamada não encontrada.',
  503: 'Servidor indisponível; tente de novo.',
};

$('btn-fechar-pop').addEventListener('click', () => cti.dismissPop());
$('btn-sair').addEventListener('click', async () => {
  cti.stop();
  try { await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' }); } catch { /* leaving anyway */ }
  location.assign('/');
});

// ---- start -----------------------------------------------------------------------------

cti.addEventListener('change', (ev) => {
  if (ev.detail.what === 'snapshot') carregarListas().then(renderTudo);
  renderTudo();
});
cti.addEventListener('connection', renderConexao);
cti.addEventListener('offer', (ev) => notificar(ev.detail.call));
cti.addEventListener('problem', (ev) => aviso(ev.detail.message));
cti.addEventListener('closed', (ev) => {
  aviso(ev.detail.message, true);
  if (ev.detail.code !== 4009) setTimeout(() => location.assign('/'), 4000);
});

/** The operator's teams next to their name; the "group" figures are then the team's. */
function mostrarEquipes(equipes) {
  const nomes = (Array.isArray(equipes) ? equipes : []).map((t) => t.name || t.team);
  const el = $('equipe');
  el.textContent = nomes.length ? `${nomes.length > 1 ? 'Equipes' : 'Equipe'}: ${nomes.join(', ')}` : '';
  el.hidden = nomes.length === 0;
  if (nomes.length) $('num-grupo-titulo').textContent = nomes.length > 1 ? 'Equipes' : 'Equipe';
}

async function iniciar() {
  let me;
  try {
    const r = await fetch('/api/me', { credentials: 'same-origin' });
    if (r.status === 401) { location.replace('/'); return; }
    if (!r.ok) throw new Error(String(r.status));
    me = await r.json();
  } catch {
    aviso('Servidor indisponível. Tentando de novo…', true);
    setTimeout(iniciar, 3000);
    return;
  }
  aviso('', true);
  $('operador').textContent = me.display_name || me.user || '';
  mostrarEquipes(me.teams);
  renderTudo();
  carregarListas().then(renderTudo);
  cti.start();
  setInterval(tique, 1000);
}

iniciar();
