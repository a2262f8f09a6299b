// The report pages: the day by 30-minute interval, the month by day, the contract panel,
// the per-call list, agent production, agents by day, the IVR, the satisfaction survey
// and quality monitoring. Every figure comes from `/api/reports/…`
// (`format=table`: typed cells, so the page formats without knowing what a KPI is) and
// `/api/contract/{month}`; the downloads are the same URLs with `format=xlsx|ods|csv`.
// The definitions in force are printed under each report, as the API gives them. The day
// and the month take a team (`?team=`, the teams /api/me says one may pick), sent with the
// downloads too and named in the printed header with the other filters.

import { VAZIO, celula, data, duracao, numero, pontosBase, reais } from './formato.js';
import { montarRelatorios } from './secoes.js';

const $ = (id) => document.getElementById(id);
const FORMATOS = [['xlsx', 'XLSX'], ['ods', 'ODS'], ['csv', 'CSV']];
const ROLES = ['admin', 'auditor', 'supervisor'];
const estado = { proximo: null, consulta: null };

function aviso(texto) {
  $('aviso').textContent = texto;
  $('aviso').hidden = !texto;
}

async function api(caminho) {
  const r = await fetch(caminho, { credentials: 'same-origin' });
  if (r.status === 401) {
    location.assign('/');
    throw new Error('sessão encerrada');
  }
  let corpo = null;
  try { corpo = await r.json(); } catch { corpo = null; }
  if (!r.ok) {
    const motivo = r.status === 403
      ? 'Sem permissão para este relatório.'
      : (corpo?.error ? `Erro: ${corpo.error}` : `Erro ${r.status} ao carregar o relatório.`);
    aviso(motivo);
    return null;
  }
  aviso('');
  return corpo;
}

/** The query string of a form's filled fields (and any extra pairs). */
function consulta(form, extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    if (String(v).trim()) q.set(k, String(v).trim());
  }
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q;
}

function baixar(secao, caminho, q) {
  const alvo = secao.querySelector('.baixar');
  alvo.replaceChildren(document.createTextNode('Baixar:'));
  for (const [f, rotulo] of FORMATOS) {
    const p = new URLSearchParams(q);
    p.set('format', f);
    const a = document.createElement('a');
    a.href = `${caminho}?${p}`;
    a.textContent = rotulo;
    a.dataset.formato = f;
    a.setAttribute('download', '');
    alvo.append(a);
  }
}

function definicoes(secao, notas) {
  const ul = secao.querySelector('.definicoes');
  ul.replaceChildren(...(notas ?? []).map((n) => {
    const li = document.createElement('li');
    li.textContent = n;
    return li;
  }));
}

function td(texto, num = false) {
  const c = document.createElement('td');
  c.textContent = texto;
  if (num) c.className = 'num';
  return c;
}

function hora(ms) {
  return new Date(ms).toLocaleString('pt-BR');
}

/** A typed table (`reports::table::Table`) into a <table>; the total row marked. */
function tabela(el, t) {
  const head = document.createElement('thead');
  const tr = document.createElement('tr');
  for (const c of t.columns) {
    const th = document.createElement('th');
    th.textContent = c.label.replace(' (UTC ms)', '');
    th.dataset.chave = c.key;
    tr.append(th);
  }
  head.append(tr);
  const body = document.createElement('tbody');
  for (const linha of t.rows) {
    const r = document.createElement('tr');
    linha.forEach((cel, i) => {
      const chave = t.columns[i]?.key;
      // Login and logout are instants (UTC ms), shown as the browser's local time.
      if ((chave === 'first_login' || chave === 'last_logout') && cel.type === 'count') {
        r.append(td(hora(cel.value)));
        return;
      }
      const { texto, num } = celula(cel);
      const c = td(texto, num);
      c.dataset.chave = chave;
      r.append(c);
    });
    if (linha[0]?.type === 'text' && linha[0].value === 'Total') r.className = 'total';
    body.append(r);
  }
  el.replaceChildren(head, body);
}

/** The report's printed header: its name and the filters of `form` as they read. */
function cabecalho(secao, form) {
  const partes = [secao.getAttribute('aria-label')];
  const rotulos = { date: 'Data', from: 'De', to: 'Até', queue: 'Fila', agent: 'Atendente' };
  for (const campo of form.elements) {
    const v = String(campo.value ?? '').trim();
    if (!campo.name || !v || campo.type === 'hidden') continue;
    if (campo.name === 'month') partes.push(`Mês: ${v.slice(5, 7)}/${v.slice(0, 4)}`);
    else if (campo.name === 'team') partes.push(`Equipe: ${campo.selectedOptions[0]?.textContent ?? v}`);
    else if (campo.name === 'outcome') partes.push(`Resultado: ${campo.selectedOptions[0]?.textContent ?? v}`);
    else if (rotulos[campo.name]) partes.push(`${rotulos[campo.name]}: ${campo.type === 'date' ? data(v) : v}`);
  }
  const fila = form.elements.namedItem('queue');
  if (fila && !fila.value.trim() && !form.elements.namedItem('team')?.value) partes.push('Todas as filas');
  secao.querySelector('.cabecalho').textContent = partes.join(' — ');
}

/** Fills every report's team picker with the teams one may pick (hidden when none); a
 * team and a queue exclude each other (the API takes one or the other). */
function equipes(escolhas) {
  for (const sel of document.querySelectorAll('select[name=team]')) {
    sel.append(...escolhas.map((t) => new Option(t.name, t.team)));
    sel.closest('label').hidden = escolhas.length === 0;
    const fila = sel.form.elements.namedItem('queue');
    sel.addEventListener('change', () => { if (sel.value && fila) fila.value = ''; });
    fila?.addEventListener('input', () => { if (fila.value) sel.value = ''; });
  }
}

async function dia(form) {
  const secao = $('dia');
  const q = consulta(form);
  baixar(secao, '/api/reports/day', q);
  const [t, r] = await Promise.all([
    api(`/api/reports/day?${consulta(form, { format: 'table' })}`),
    api(`/api/reports/day?${q}`),
  ]);
  if (!t || !r) return;
  tabela(secao.querySelector('table.principal'), t);
  const corpo = secao.querySelector('table.tma-hora tbody');
  corpo.replaceChildren(...(r.tma_by_hour ?? []).map((h) => {
    const tr = document.createElement('tr');
    const s = h.tma?.seconds;
    tr.append(
      td(`${String(h.hour).padStart(2, '0')}h`),
      td(Number.isFinite(s) ? duracao(s * 1000) : VAZIO, true),
      td(numero(h.tma?.count ?? h.tma?.denominator), true),
    );
    return tr;
  }));
  definicoes(secao, t.notes);
}

async function mes(form) {
  const secao = $('mes');
  const q = consulta(form);
  baixar(secao, '/api/reports/month', q);
  const t = await api(`/api/reports/month?${consulta(form, { format: 'table' })}`);
  if (!t) return;
  tabela(secao.querySelector('table.principal'), t);
  definicoes(secao, t.notes);
}

async function contrato(form) {
  const secao = $('contrato');
  const m = form.month.value;
  baixar(secao, `/api/contract/${encodeURIComponent(m)}`, new URLSearchParams());
  const p = await api(`/api/contract/${encodeURIComponent(m)}`);
  if (!p) return;
  const corpo = secao.querySelector('tbody');
  corpo.replaceChildren(...p.rows.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.kpi = r.kpi;
    const medido = td(r.value ?? VAZIO, true);
    if (r.met === true) medido.classList.add('cumprida');
    if (r.met === false) medido.classList.add('descumprida');
    tr.append(
      td(`${r.kpi} — ${r.label}`),
      medido,
      td(r.target ?? VAZIO),
      td(r.band ?? (r.met === true ? 'meta cumprida' : VAZIO)),
      td(pontosBase(r.discount_bp), true),
      td(p.invoice_cents > 0 ? reais(r.discount_cents) : VAZIO, true),
    );
    return tr;
  }));
  const total = document.createElement('tr');
  total.append(
    td('Total'), td(''), td(''), td(''),
    td(pontosBase(p.total_discount_bp), true),
    td(p.invoice_cents > 0 ? reais(p.total_discount_cents) : VAZIO, true),
  );
  secao.querySelector('tfoot').replaceChildren(total);
  const notas = [
    `Mês: ${p.month}`,
    p.invoice_cents > 0
      ? `Valor da fatura mensal: ${reais(p.invoice_cents)}`
      : 'Valor da fatura não configurado: descontos apenas em %',
  ];
  if (p.adaptation) notas.push('Período de adaptação contratual: nenhum desconto aplicado');
  notas.push(...(p.notes ?? []), ...(p.definitions_notes ?? []));
  definicoes(secao, notas);
}

function linhaChamada(c) {
  const tr = document.createElement('tr');
  tr.dataset.protocolo = c.protocol;
  const gravacao = document.createElement('td');
  if (c.recording) {
    const a = document.createElement('a');
    a.href = c.recording;
    a.textContent = 'ouvir';
    gravacao.append(a);
  } else {
    gravacao.textContent = VAZIO;
  }
  tr.append(
    td(data(c.date)), td(c.time), td(c.protocol), td(c.agent ?? VAZIO),
    td(c.caller), td(c.queue ?? VAZIO),
    td(duracao(c.ivr_ms), true), td(duracao(c.wait_ms), true), td(duracao(c.talk_ms), true),
    td(duracao(c.after_call_ms), true), td(duracao(c.total_ms), true),
    td(c.outcome_label), td(c.survey_score ?? VAZIO, true),
    td(c.registered ? 'sim' : 'não'), gravacao,
  );
  return tr;
}

async function chamadas(form, mais = false) {
  const secao = $('chamadas');
  const corpo = secao.querySelector('tbody');
  if (!mais) {
    estado.consulta = consulta(form);
    estado.proximo = null;
    estado.ilegiveis = [];
    corpo.replaceChildren();
    // A download is the whole list, not one page of it.
    const tudo = new URLSearchParams(estado.consulta);
    tudo.delete('limit');
    baixar(secao, '/api/reports/calls', tudo);
  }
  const q = new URLSearchParams(estado.consulta);
  if (mais && estado.proximo) q.set('after', estado.proximo);
  const p = await api(`/api/reports/calls?${q}`);
  if (!p) return;
  corpo.append(...p.calls.map(linhaChamada));
  // Calls whose stored record cannot be read: not in the table, but never hidden.
  (estado.ilegiveis ??= []).push(...(p.unreadable ?? []).map((u) => u.protocol));
  estado.proximo = p.next ?? null;
  secao.querySelector('.mais').hidden = !estado.proximo;
  const n = corpo.children.length;
  const ilegiveis = estado.ilegiveis.length
    ? `; ${numero(estado.ilegiveis.length)} com registro ilegível: ${estado.ilegiveis.join(', ')}`
    : '';
  secao.querySelector('.contagem').textContent = (n === 1
    ? '1 chamada listada'
    : `${numero(n)} chamadas listadas${estado.proximo ? ' (há mais)' : ''}`) + ilegiveis;
  definicoes(secao, [
    ...(p.period ? [`Período: ${p.period.from} a ${p.period.to}`] : []),
    ...notasDefinicoes(p.definitions),
  ]);
}

/** The definitions object of a JSON report as printed lines (as the tables' notes). */
function notasDefinicoes(d) {
  if (!d) return [];
  const sim = (b) => (b ? 'sim' : 'não');
  return [
    `Definições: versão ${d.version}`,
    `Fuso horário: ${d.timezone ?? 'UTC'}`,
    `Limite do nível de serviço: espera ≤ ${d.threshold_ms} ms`,
    `NS conta abandonos na URA no denominador: ${sim(d.ns_counts_ivr_abandons)}`,
    `TMA inclui o pós-atendimento: ${sim(d.tma_includes_after_call)}`,
  ];
}

async function atendentes(form) {
  const secao = $('atendentes');
  const q = consulta(form);
  baixar(secao, '/api/reports/agents', q);
  const t = await api(`/api/reports/agents?${consulta(form, { format: 'table' })}`);
  if (!t) return;
  tabela(secao.querySelector('table.principal'), t);
  definicoes(secao, t.notes);
}

/** A report that is one typed table: its form's fields are the API's parameters. */
function simples(id, caminho) {
  return async (form) => {
    const secao = $(id);
    const q = consulta(form);
    baixar(secao, caminho, q);
    const t = await api(`${caminho}?${consulta(form, { format: 'table' })}`);
    if (!t) return;
    tabela(secao.querySelector('table.principal'), t);
    definicoes(secao, t.notes);
  };
}

const CARREGAR = {
  dia,
  mes,
  contrato,
  chamadas,
  atendentes,
  pordia: simples('pordia', '/api/reports/agents/daily'),
  ura: simples('ura', '/api/reports/ivr'),
  pesquisa: simples('pesquisa', '/api/reports/survey'),
  monitoria: simples('monitoria', '/api/reports/quality'),
};

function abrir(aba) {
  for (const b of document.querySelectorAll('.abas button')) {
    b.setAttribute('aria-selected', String(b.dataset.aba === aba));
  }
  for (const id of Object.keys(CARREGAR)) $(id).hidden = id !== aba;
  const url = new URL(location.href);
  url.searchParams.set('aba', aba);
  history.replaceState(null, '', url);
}

function hojeLocal() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

async function iniciar() {
  montarRelatorios(document);
  const eu = await api('/api/me');
  if (!eu) return;
  $('operador').textContent = eu.display_name ?? eu.user;
  if (!ROLES.includes(eu.role)) {
    aviso('Os relatórios são para administradores, auditores e supervisores.');
    return;
  }
  const filas = new Set(eu.queues ?? []);
  const lista = $('filas');
  lista.replaceChildren(...[...filas].map((f) => Object.assign(document.createElement('option'), { value: f })));
  equipes(eu.team_choices ?? []);

  const params = new URL(location.href).searchParams;
  // A team picked in the URL (`?equipe=KEY`, as on the wallboard) if one may pick it.
  const equipe = params.get('equipe');
  if (equipe && (eu.team_choices ?? []).some((t) => t.team === equipe)) {
    for (const sel of document.querySelectorAll('select[name=team]')) sel.value = equipe;
  }
  const hoje = params.get('data') ?? hojeLocal();
  const mesAtual = params.get('mes') ?? hoje.slice(0, 7);
  for (const f of document.querySelectorAll('input[type=date]')) {
    if (f.name === 'from' || f.name === 'date') f.value = hoje;
  }
  for (const f of document.querySelectorAll('input[type=month]')) f.value = mesAtual;
  // The page size of the call list (`?limite=`; the API's default otherwise).
  if (/^\d+$/.test(params.get('limite') ?? '')) {
    $('chamadas').querySelector('input[name=limit]').value = params.get('limite');
  }

  for (const [id, carregar] of Object.entries(CARREGAR)) {
    const form = $(id).querySelector('form');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      ver(id, carregar, form);
    });
  }
  $('chamadas').querySelector('.mais').addEventListener('click', () => {
    chamadas($('chamadas').querySelector('form'), true);
  });
  for (const b of document.querySelectorAll('.abas button')) {
    b.addEventListener('click', () => {
      abrir(b.dataset.aba);
      ver(b.dataset.aba, CARREGAR[b.dataset.aba], $(b.dataset.aba).querySelector('form'));
    });
  }
  const aba = CARREGAR[params.get('aba')] ? params.get('aba') : 'dia';
  abrir(aba);
  await ver(aba, CARREGAR[aba], $(aba).querySelector('form'));
}

/** Loads a report after writing its printed header. */
function ver(id, carregar, form) {
  cabecalho($(id), form);
  return carregar(form);
}

$('btn-sair').addEventListener('click', async () => {
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  location.assign('/');
});

iniciar();
