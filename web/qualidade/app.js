// The quality-monitoring page: pick a month, draw its sample (once), listen to a sampled
// call's recording and grade the form's criteria. Everything comes from /api/quality and
// /api/me; the recording is the audited /api/calls/{protocol}/recording route (played in
// the page, so the server writes a `recording.play` audit entry for each play).

const $ = (id) => document.getElementById(id);
const estado = { eu: null, mes: '', dados: null, forms: [], chamada: null, revisa: null };

/** Hundredths of a point as "77,50 %". */
export function nota(centesimos) {
  if (centesimos === null || centesimos === undefined) return '—';
  const v = Math.floor(centesimos);
  return `${Math.floor(v / 100)},${String(v % 100).padStart(2, '0')} %`;
}

/** Milliseconds as "m:ss". */
export function duracao(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function ligacoes(n) {
  return `${n} ${n === 1 ? 'ligação' : 'ligações'}`;
}

function aviso(texto) {
  $('aviso').textContent = texto;
  $('aviso').hidden = !texto;
}

async function api(caminho, opcoes = {}) {
  const r = await fetch(caminho, {
    credentials: 'same-origin',
    headers: opcoes.body ? { 'Content-Type': 'application/json' } : {},
    ...opcoes,
  });
  if (r.status === 401) {
    location.assign('/');
    throw new Error('sessão encerrada');
  }
  let corpo = null;
  try { corpo = await r.json(); } catch { corpo = null; }
  return { ok: r.ok, status: r.status, corpo };
}

function mesAtual() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

function podeEscrever() {
  return estado.eu && (estado.eu.role === 'admin' || estado.eu.role === 'supervisor');
}

function formulario(id, versao) {
  const doId = estado.forms.filter((f) => f.id === id);
  if (versao) return doId.find((f) => f.version === versao);
  return doId.reduce((a, f) => (!a || f.version > a.version ? f : a), null);
}

async function carregar() {
  aviso('');
  const r = await api(`/api/quality/months/${estado.mes}`);
  if (!r.ok) {
    aviso(r.corpo?.error ? `Erro: ${r.corpo.error}` : `Erro ${r.status} ao carregar o mês.`);
    return;
  }
  estado.dados = r.corpo;
  mostrarMes();
}

function mostrarMes() {
  const d = estado.dados;
  const s = d.sample;
  $('btn-sortear').hidden = !!s || !podeEscrever();
  $('sorteio').textContent = s
    ? `Amostra sorteada por ${s.drawn_by} em ${new Date(s.drawn_at_ms).toLocaleString('pt-BR')}: `
      + `${ligacoes(d.calls.length)} de ${s.candidates} elegíveis (até ${s.per_agent} por operador, `
      + `conversa acima de ${Math.round(s.min_talk_ms / 1000)} s, gravação íntegra). Semente ${s.seed}.`
    : `Ainda não sorteada. Serão até ${d.sample_per_agent} ligações por operador, com gravação íntegra e conversa acima de ${d.min_talk_secs} s.`;
  $('imq').textContent = d.imq.value;
  const linha = d.imq_row;
  $('imq-meta').textContent = `Meta ${linha?.target ?? '—'} · ${ligacoes(d.imq.denominator)} avaliada${d.imq.denominator === 1 ? '' : 's'}`;
  const faixa = $('imq-faixa');
  if (!linha || linha.met === null) {
    faixa.textContent = '';
    faixa.removeAttribute('data-cumprida');
  } else if (linha.met) {
    faixa.textContent = 'Meta cumprida: sem desconto';
    faixa.dataset.cumprida = 'true';
  } else {
    const pct = (linha.discount_bp || linha.waived_bp) / 100;
    faixa.textContent = `Faixa ${linha.band}: desconto de ${String(pct).replace('.', ',')} % da fatura`
      + (linha.waived_bp ? ' (dispensado: período de adaptação)' : '');
    faixa.dataset.cumprida = 'false';
  }
  const agentes = $('agentes').querySelector('tbody');
  agentes.replaceChildren(...d.agents.map((a) => {
    const tr = document.createElement('tr');
    tr.append(celula(a.agent), celula(String(a.score.denominator), true), celula(a.score.value, true));
    return tr;
  }));
  $('amostra-vazia').hidden = d.calls.length > 0;
  const corpo = $('amostra').querySelector('tbody');
  corpo.replaceChildren(...d.calls.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.protocolo = c.protocol;
    tr.setAttribute('aria-selected', String(estado.chamada === c.protocol));
    const botao = document.createElement('button');
    botao.type = 'button';
    botao.className = 'discreto';
    botao.textContent = 'Ouvir e avaliar';
    botao.addEventListener('click', () => abrir(c.protocol));
    const acao = document.createElement('td');
    acao.append(botao);
    tr.append(celula(c.protocol), celula(c.agent), celula(c.queue ?? '—'),
      celula(duracao(c.talk_ms), true), celula(nota(c.score), true), acao);
    return tr;
  }));
  if (estado.chamada) mostrarChamada();
}

function celula(texto, num = false) {
  const td = document.createElement('td');
  td.textContent = texto;
  if (num) td.className = 'num';
  return td;
}

function abrir(protocolo) {
  estado.chamada = protocolo;
  estado.revisa = null;
  const audio = $('audio');
  audio.src = `/api/calls/${encodeURIComponent(protocolo)}/recording?play=true&format=pcm16`;
  $('av-nota').value = '';
  $('av-erro').hidden = true;
  mostrarMes();
  $('avaliacao').hidden = false;
  $('avaliacao').scrollIntoView({ block: 'start' });
}

function mostrarChamada() {
  const c = estado.dados.calls.find((x) => x.protocol === estado.chamada);
  if (!c) { $('avaliacao').hidden = true; return; }
  $('av-protocolo').textContent = c.protocol;
  $('av-operador').textContent = c.agent;
  $('av-conversa').textContent = duracao(c.talk_ms);
  const revisadas = new Set(c.evaluations.map((e) => e.revises).filter((x) => x !== null));
  $('av-anteriores').replaceChildren(...c.evaluations.map((e) => {
    const li = document.createElement('li');
    const quando = new Date(e.submitted_at_ms).toLocaleString('pt-BR');
    li.textContent = `${e.evaluator}: ${nota(e.score)} em ${quando}`
      + (e.revises ? ` (correção da avaliação ${e.revises})` : '')
      + (revisadas.has(e.id) ? ' — substituída' : '')
      + (e.note ? ` — ${e.note}` : '');
    if (!revisadas.has(e.id) && podeEscrever()
      && (e.evaluator === estado.eu.user || estado.eu.role === 'admin')) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'discreto';
      b.textContent = 'Corrigir';
      b.addEventListener('click', () => corrigir(e));
      li.append(' ', b);
    }
    return li;
  }));
  const e = estado.revisa;
  // One evaluation per monitor and form: after it, only a correction can be sent.
  const jaAvaliou = c.evaluations.some((x) => x.evaluator === estado.eu.user && x.revises === null);
  $('form-avaliacao').hidden = !podeEscrever() || (jaAvaliou && !e);
  const form = e ? formulario(e.form_id, e.form_version) : formulario('imq');
  $('av-revisao').hidden = !e;
  $('av-revisao').textContent = e ? `Correção da avaliação ${e.id}: diga o motivo nas observações.` : '';
  montarCriterios(form, e?.grades);
  $('btn-enviar').disabled = !podeEscrever();
}

function corrigir(e) {
  estado.revisa = e;
  mostrarChamada();
}

function montarCriterios(form, notas) {
  const caixa = $('criterios');
  caixa.dataset.form = form ? `${form.id}:${form.version}` : '';
  caixa.replaceChildren(...(form?.criteria ?? []).map((c) => {
    const linha = document.createElement('label');
    linha.className = 'criterio';
    const texto = document.createElement('span');
    texto.textContent = `${c.label} `;
    const peso = document.createElement('span');
    peso.className = 'peso';
    peso.textContent = `(peso ${c.weight} %)`;
    texto.append(peso);
    const campo = document.createElement('input');
    campo.type = 'number';
    campo.min = '0';
    campo.max = '100';
    campo.step = '1';
    campo.required = true;
    campo.name = c.key;
    campo.dataset.peso = String(c.weight);
    campo.setAttribute('aria-label', `${c.label} (0 a 100)`);
    if (notas && notas[c.key] !== undefined) campo.value = String(notas[c.key]);
    campo.addEventListener('input', previa);
    linha.append(texto, campo);
    return linha;
  }));
  previa();
}

function previa() {
  let total = 0;
  let completo = true;
  for (const campo of $('criterios').querySelectorAll('input')) {
    const v = parseInt(campo.value, 10);
    if (!Number.isFinite(v) || v < 0 || v > 100) { completo = false; continue; }
    total += v * parseInt(campo.dataset.peso, 10);
  }
  $('av-previa').textContent = completo ? nota(total) : '—';
}

async function enviar(ev) {
  ev.preventDefault();
  const erro = $('av-erro');
  erro.hidden = true;
  const grades = {};
  for (const campo of $('criterios').querySelectorAll('input')) {
    const v = parseInt(campo.value, 10);
    if (!Number.isFinite(v) || v < 0 || v > 100) {
      erro.textContent = 'Dê uma nota de 0 a 100 a cada critério.';
      erro.hidden = false;
      campo.focus();
      return;
    }
    grades[campo.name] = v;
  }
  const [formId, versao] = ($('criterios').dataset.form || 'imq:').split(':');
  const corpo = {
    month: estado.mes,
    protocol: estado.chamada,
    grades,
    note: $('av-nota').value,
  };
  if (estado.revisa) corpo.revises = estado.revisa.id;
  else { corpo.form_id = formId; if (versao) corpo.form_version = parseInt(versao, 10); }
  $('btn-enviar').disabled = true;
  try {
    const r = await api('/api/quality/evaluations', { method: 'POST', body: JSON.stringify(corpo) });
    if (!r.ok) {
      erro.textContent = r.corpo?.error ? `Não enviada: ${r.corpo.error}` : `Não enviada (erro ${r.status}).`;
      erro.hidden = false;
      return;
    }
    estado.revisa = null;
    $('av-nota').value = '';
    aviso(`Avaliação registrada: nota ${nota(r.corpo.score)}.`);
    const msg = $('aviso').textContent;
    await carregar();
    aviso(msg);
  } finally {
    $('btn-enviar').disabled = !podeEscrever();
  }
}

async function sortear() {
  if (!confirm(`Sortear a amostra de ${estado.mes}? O sorteio é feito uma única vez por mês.`)) return;
  $('btn-sortear').disabled = true;
  try {
    const r = await api(`/api/quality/months/${estado.mes}/sample`, { method: 'POST' });
    if (!r.ok) aviso(r.corpo?.error ? `Sorteio recusado: ${r.corpo.error}` : `Erro ${r.status} no sorteio.`);
    await carregar();
  } finally {
    $('btn-sortear').disabled = false;
  }
}

async function iniciar() {
  const eu = await api('/api/me');
  if (!eu.ok) { location.assign('/'); return; }
  estado.eu = eu.corpo;
  $('operador').textContent = `${eu.corpo.display_name ?? eu.corpo.user} (${eu.corpo.role})`;
  if (!['admin', 'supervisor', 'auditor'].includes(eu.corpo.role)) {
    aviso('Seu perfil não tem acesso à monitoria de qualidade.');
    return;
  }
  const forms = await api('/api/quality/forms');
  estado.forms = forms.ok ? forms.corpo : [];
  const pedido = new URLSearchParams(location.search).get('mes');
  estado.mes = /^\d{4}-\d{2}$/.test(pedido ?? '') ? pedido : mesAtual();
  $('mes').value = estado.mes;
  $('mes').addEventListener('change', () => {
    if (!/^\d{4}-\d{2}$/.test($('mes').value)) return;
    estado.mes = $('mes').value;
    estado.chamada = null;
    $('avaliacao').hidden = true;
    carregar();
  });
  $('btn-sortear').addEventListener('click', sortear);
  $('form-avaliacao').addEventListener('submit', enviar);
  $('btn-cancelar').addEventListener('click', () => {
    estado.chamada = null;
    $('audio').pause();
    $('avaliacao').hidden = true;
    mostrarMes();
  });
  $('btn-sair').addEventListener('click', async () => {
    await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
    location.assign('/');
  });
  await carregar();
}

iniciar();
