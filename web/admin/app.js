// The administration page: users (GET/POST /api/users, PATCH /api/users/{name}) for
// admins, and the audit log (GET /api/audit: filters by action, user and period, paged
// by id, with the server's last verification of the hash chain; "Verificar agora" is
// POST /api/audit/verify) for admins and auditors. Every refusal of
// the API is told in Portuguese; no password or hash is ever shown (the API sends none).
// The server checks every role: what this page hides is for clarity, not for safety.

const $ = (id) => document.getElementById(id);
const PAPEIS = {
  agent: 'Atendente',
  supervisor: 'Supervisor',
  admin: 'Administrador',
  auditor: 'Auditor',
  wallboard: 'Painel (TV)',
};
/** The audit log's actions as people read them (an unknown one: its code). */
const ACOES = {
  login: 'Entrada no sistema',
  'login.failed': 'Senha ou usuário incorretos',
  'login.limited': 'Entrada bloqueada (tentativas demais)',
  logout: 'Saída do sistema',
  'user.add': 'Usuário criado',
  'user.change': 'Usuário alterado',
  'user.role': 'Papel alterado',
  'user.disable': 'Usuário desativado',
  'user.enable': 'Usuário reativado',
  denied: 'Acesso negado',
  'config.reload': 'Configuração recarregada',
  'ivr.reload': 'URA recarregada',
  'api.change': 'Alteração pela API',
  'monitor.start': 'Monitoria de chamada iniciada',
  'monitor.refused': 'Monitoria recusada',
  'quality.draw': 'Amostra de monitoria sorteada',
  'quality.form': 'Avaliação de monitoria registrada',
  'audit.verify': 'Verificação da cadeia de auditoria',
};
const PAGINA_AUDITORIA = 50;

const estado = {
  eu: null,
  usuarios: [],
  editando: null, // the name of the user being changed; null: a new user
  equipes: [], // [{team, name}] the config's teams
  auditoria: null, // the query of the audit page shown
  proximo: null, // the id to page the audit log from
};

// ---- messages ------------------------------------------------------------------------

function aviso(texto) {
  $('aviso').textContent = texto;
  $('aviso').hidden = !texto;
  if (texto) $('sucesso').hidden = true;
}

function sucesso(texto) {
  $('sucesso').textContent = texto;
  $('sucesso').hidden = !texto;
  if (texto) $('aviso').hidden = true;
}

/** The pt-BR sentence for a refused request: its status and the API's `error`. */
export function mensagem(status, erro = '') {
  const e = String(erro ?? '');
  if (status === 403) return 'Sem permissão para esta ação.';
  if (status === 503) return 'Banco de dados indisponível no momento. Tente de novo em instantes.';
  if (status === 409) return 'Já existe um usuário com esse nome.';
  if (status === 404) return 'Usuário não encontrado (talvez removido por outra pessoa). Atualize a página.';
  if (/^user name/.test(e)) {
    return 'Nome de usuário inválido: use de 1 a 64 caracteres entre letras minúsculas, números, ponto, "_" e "-".';
  }
  if (/password must have at least (\d+)/.test(e)) {
    return `A senha precisa ter pelo menos ${e.match(/at least (\d+)/)[1]} caracteres.`;
  }
  if (/needs the ACD agent/.test(e)) {
    return 'Um usuário com papel Atendente precisa do atendente ACD vinculado (ex.: 1001).';
  }
  if (/^team\(s\) not in the config/.test(e)) {
    return `Equipe desconhecida na configuração: ${e.split(':').slice(1).join(':').trim()}.`;
  }
  if (/^agent not in the config/.test(e)) {
    return `Atendente ACD desconhecido na configuração: ${e.split(':').slice(1).join(':').trim()}.`;
  }
  if (/^queue\(s\) not in the config/.test(e)) {
    return `Fila desconhecida na configuração: ${e.split(':').slice(1).join(':').trim()}.`;
  }
  if (/cannot hash/.test(e)) return 'Não foi possível gravar a senha. Tente de novo.';
  if (/from_ms is after to_ms/.test(e)) return 'O início do período é depois do fim.';
  if (status === 400 || status === 422) return 'Dados inválidos: confira os campos e tente de novo.';
  return `Não foi possível concluir (erro ${status}). Tente de novo.`;
}

/** A request to the API: the JSON answer, or null after telling the refusal. */
async function api(caminho, metodo = 'GET', corpo = undefined) {
  let r;
  try {
    r = await fetch(caminho, {
      method: metodo,
      credentials: 'same-origin',
      headers: corpo === undefined ? {} : { 'Content-Type': 'application/json' },
      body: corpo === undefined ? undefined : JSON.stringify(corpo),
    });
  } catch {
    aviso('Servidor indisponível. Verifique a conexão e tente de novo.');
    return null;
  }
  if (r.status === 401) {
    location.assign('/?volta=/admin/');
    return null;
  }
  let json = null;
  try { json = await r.json(); } catch { json = null; }
  if (!r.ok) {
    aviso(mensagem(r.status, json?.error));
    return null;
  }
  return json ?? {};
}

// ---- formatting ----------------------------------------------------------------------

function dataHora(ms) {
  return Number.isFinite(ms) ? new Date(ms).toLocaleString('pt-BR') : '—';
}

function td(texto, classe) {
  const c = document.createElement('td');
  c.textContent = texto;
  if (classe) c.className = classe;
  return c;
}

function nomeEquipe(chave) {
  return estado.equipes.find((t) => t.team === chave)?.name ?? chave;
}

function escopo(u) {
  const partes = [];
  if (u.teams?.length) partes.push(`Equipes: ${u.teams.map(nomeEquipe).join(', ')}`);
  if (u.queues?.length) partes.push(`Filas: ${u.queues.join(', ')}`);
  return partes.length ? partes.join(' · ') : 'todas as filas';
}

function botao(texto, classe, acao) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = texto;
  b.className = classe;
  b.addEventListener('click', acao);
  return b;
}

// ---- users ---------------------------------------------------------------------------

async function carregarUsuarios() {
  const lista = await api('/api/users');
  if (!lista) return;
  estado.usuarios = lista;
  const corpo = $('tabela-usuarios').querySelector('tbody');
  corpo.replaceChildren(...lista.map((u) => {
    const tr = document.createElement('tr');
    tr.dataset.usuario = u.name;
    tr.dataset.situacao = u.disabled ? 'desativado' : 'ativo';
    const situacao = td(u.disabled ? 'Desativado' : 'Ativo', 'situacao');
    const acoes = td('', 'acoes');
    acoes.append(
      botao('Editar', 'discreto editar', () => editar(u.name)),
      botao('Redefinir senha', 'discreto senha', () => editar(u.name, true)),
    );
    // One's own account is not disabled from here: an admin would lock themselves out.
    if (u.disabled) acoes.append(botao('Reativar', 'discreto reativar', () => ativar(u.name, true)));
    else if (u.name !== estado.eu?.user) acoes.append(botao('Desativar', 'perigo desativar', () => ativar(u.name, false)));
    tr.append(
      td(u.name, 'nome'), td(u.display_name), td(PAPEIS[u.role] ?? u.role, 'papel'),
      td(escopo(u), 'escopo'), td(u.agent ?? '—'), situacao,
      td(dataHora(u.last_login_ms ?? NaN), 'ultimo'), acoes,
    );
    return tr;
  }));
}

function preencherEquipes(marcadas) {
  const caixa = $('equipes').querySelector('.opcoes');
  caixa.replaceChildren(...estado.equipes.map((t) => {
    const l = document.createElement('label');
    const c = document.createElement('input');
    c.type = 'checkbox';
    c.name = 'teams';
    c.value = t.team;
    c.checked = marcadas.includes(t.team);
    l.append(c, document.createTextNode(` ${t.name}`));
    return l;
  }));
  $('equipes').hidden = estado.equipes.length === 0;
}

function abrirFicha(u, soSenha = false) {
  const f = $('form-usuario');
  estado.editando = u?.name ?? null;
  f.name.value = u?.name ?? '';
  f.name.disabled = !!u;
  f.display_name.value = u?.display_name ?? '';
  f.role.value = u?.role ?? 'agent';
  f.agent.value = u?.agent ?? '';
  f.queues.value = (u?.queues ?? []).join(', ');
  f.password.value = '';
  preencherEquipes(u?.teams ?? []);
  $('ficha-titulo').textContent = !u
    ? 'Novo usuário'
    : soSenha ? `Redefinir a senha de ${u.name}` : `Alterar ${u.name}`;
  $('rotulo-senha').textContent = u ? 'Nova senha (em branco: mantém a atual)' : 'Senha inicial';
  $('btn-salvar').textContent = u ? 'Salvar alterações' : 'Criar usuário';
  f.hidden = false;
  (soSenha ? f.password : u ? f.display_name : f.name).focus();
}

function editar(nome, soSenha = false) {
  const u = estado.usuarios.find((x) => x.name === nome);
  if (u) abrirFicha(u, soSenha);
}

function lerFicha() {
  const f = $('form-usuario');
  const filas = f.queues.value.split(',').map((s) => s.trim()).filter(Boolean);
  const equipes = [...f.querySelectorAll('input[name=teams]:checked')].map((c) => c.value);
  return {
    name: f.name.value.trim(),
    display_name: f.display_name.value.trim(),
    role: f.role.value,
    agent: f.agent.value.trim(),
    queues: filas,
    teams: equipes,
    password: f.password.value,
  };
}

async function salvar(ev) {
  ev.preventDefault();
  const v = lerFicha();
  if (!estado.editando) {
    if (!v.name) { aviso('Informe o nome de usuário.'); return; }
    if (!v.password) { aviso('Informe a senha inicial.'); return; }
    const novo = {
      name: v.name, role: v.role, queues: v.queues, teams: v.teams, password: v.password,
    };
    if (v.display_name) novo.display_name = v.display_name;
    if (v.agent) novo.agent = v.agent;
    if (!(await api('/api/users', 'POST', novo))) return;
    sucesso(`Usuário ${v.name} criado.`);
  } else {
    // Only what changed: a PATCH leaves the rest as it is (and an unchanged scope keeps
    // the user's sessions open).
    const antes = estado.usuarios.find((x) => x.name === estado.editando) ?? {};
    const mudanca = {};
    if (v.display_name && v.display_name !== antes.display_name) mudanca.display_name = v.display_name;
    if (v.role !== antes.role) mudanca.role = v.role;
    if (v.agent !== (antes.agent ?? '')) mudanca.agent = v.agent;
    if (v.queues.join(',') !== (antes.queues ?? []).join(',')) mudanca.queues = v.queues;
    if (v.teams.join(',') !== (antes.teams ?? []).join(',')) mudanca.teams = v.teams;
    if (v.password) mudanca.password = v.password;
    if (Object.keys(mudanca).length === 0) { aviso('Nada foi alterado.'); return; }
    const alvo = `/api/users/${encodeURIComponent(estado.editando)}`;
    if (!(await api(alvo, 'PATCH', mudanca))) return;
    sucesso(mudanca.password ? `Usuário ${estado.editando} alterado; a nova senha vale a partir de agora.` : `Usuário ${estado.editando} alterado.`);
  }
  $('form-usuario').hidden = true;
  $('form-usuario').password.value = '';
  await carregarUsuarios();
}

async function ativar(nome, ativo) {
  if (!ativo && !confirm(`Desativar ${nome}? As sessões abertas dele serão encerradas.`)) return;
  const r = await api(`/api/users/${encodeURIComponent(nome)}`, 'PATCH', { disabled: !ativo });
  if (!r) return;
  sucesso(ativo ? `Usuário ${nome} reativado.` : `Usuário ${nome} desativado.`);
  await carregarUsuarios();
}

// ---- audit log -----------------------------------------------------------------------

/** A date field (local day) as UTC ms: its start, or the start of the next day. */
function inicioDoDia(valor, diaSeguinte = false) {
  if (!valor) return null;
  const [a, m, d] = valor.split('-').map(Number);
  return new Date(a, m - 1, d + (diaSeguinte ? 1 : 0)).getTime();
}

function linhaAuditoria(e) {
  const tr = document.createElement('tr');
  tr.dataset.id = e.id;
  tr.dataset.acao = e.action;
  tr.append(
    td(dataHora(e.at_ms)), td(e.actor, 'quem'),
    td(ACOES[e.action] ? `${ACOES[e.action]} (${e.action})` : e.action, 'acao'),
    td(e.target, 'alvo'), td(e.detail, 'detalhe-aud'),
  );
  return tr;
}

/** "07/12/2026 18:20" (local time). */
function diaHoraMinuto(ms) {
  return new Date(ms).toLocaleString('pt-BR', {
    day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit',
  }).replace(',', '');
}

/** The server's kept verification of the chain (null: not walked yet since it started). */
function mostrarCadeia(v) {
  const el = $('cadeia');
  if (!v) {
    delete el.dataset.ok;
    el.textContent = 'Cadeia de hashes ainda não verificada desde o início do servidor.';
    return;
  }
  el.dataset.ok = String(v.ok);
  const quando = `Cadeia verificada em ${diaHoraMinuto(v.checked_at_ms)}`;
  el.textContent = v.ok
    ? `${quando} — ${v.rows.toLocaleString('pt-BR')} ${v.rows === 1 ? 'registro' : 'registros'}, íntegra.`
    : `${quando} — violada a partir do registro ${v.broken_at}: o registro foi alterado ou um anterior foi apagado.`;
}

/** "Verificar agora": a full walk on the server; its result, then the log (which lists it). */
async function verificarAgora() {
  const b = $('btn-verificar');
  b.disabled = true;
  b.textContent = 'Verificando…';
  try {
    const r = await api('/api/audit/verify', 'POST');
    if (!r) return;
    mostrarCadeia(r);
    if (r.ok) sucesso('Cadeia de auditoria verificada: íntegra.');
    else aviso(`Cadeia de auditoria violada a partir do registro ${r.broken_at}.`);
    await carregarAuditoria();
  } finally {
    b.disabled = false;
    b.textContent = 'Verificar agora';
  }
}

async function carregarAuditoria(mais = false) {
  const corpo = $('tabela-auditoria').querySelector('tbody');
  if (!mais) {
    const f = $('form-auditoria');
    const q = new URLSearchParams({ limit: String(PAGINA_AUDITORIA) });
    if (f.action.value) q.set('action', f.action.value);
    if (f.user.value.trim()) q.set('user', f.user.value.trim());
    const de = inicioDoDia(f.from.value);
    const ate = inicioDoDia(f.to.value, true);
    if (de !== null) q.set('from_ms', String(de));
    if (ate !== null) q.set('to_ms', String(ate));
    estado.auditoria = q;
    estado.proximo = null;
  }
  const q = new URLSearchParams(estado.auditoria);
  if (mais && estado.proximo) q.set('before', String(estado.proximo));
  const r = await api(`/api/audit?${q}`);
  if (!r) return;
  if (!mais) corpo.replaceChildren();
  corpo.append(...r.entries.map(linhaAuditoria));
  estado.proximo = r.next ?? null;
  $('btn-mais-auditoria').hidden = !estado.proximo;
  mostrarCadeia(r.verify);
  const n = corpo.children.length;
  $('contagem-auditoria').textContent = n === 0
    ? 'Nenhum registro com esses filtros.'
    : `${n.toLocaleString('pt-BR')} ${n === 1 ? 'registro listado' : 'registros listados'}${estado.proximo ? ' (há mais antigos)' : ''}.`;
}

// ---- page ----------------------------------------------------------------------------

function abrir(aba) {
  for (const b of document.querySelectorAll('.abas button')) {
    b.setAttribute('aria-selected', String(b.dataset.aba === aba));
  }
  $('usuarios').hidden = aba !== 'usuarios';
  $('auditoria').hidden = aba !== 'auditoria';
  const url = new URL(location.href);
  url.searchParams.set('aba', aba);
  history.replaceState(null, '', url);
}

async function sugestoes() {
  // What the forms offer to pick: the ACD's agents and queues (none when no ACD).
  const [agentes, filas] = await Promise.all([
    fetch('/api/agents', { credentials: 'same-origin' }).then((r) => (r.ok ? r.json() : [])).catch(() => []),
    fetch('/api/queues', { credentials: 'same-origin' }).then((r) => (r.ok ? r.json() : [])).catch(() => []),
  ]);
  const opcao = (value, label) => Object.assign(document.createElement('option'), { value, label: label ?? '' });
  $('lista-atendentes').replaceChildren(...agentes.map((a) => opcao(a.agent, a.name)));
  $('lista-filas').replaceChildren(...filas.map((q) => opcao(q.queue)));
}

async function iniciar() {
  const sel = $('form-auditoria').action;
  for (const [codigo, rotulo] of Object.entries(ACOES)) sel.append(new Option(rotulo, codigo));
  const eu = await api('/api/me');
  if (!eu) return;
  estado.eu = eu;
  estado.equipes = eu.team_choices ?? [];
  $('operador').textContent = `${eu.display_name ?? eu.user} · ${PAPEIS[eu.role] ?? eu.role}`;
  if (eu.role !== 'admin' && eu.role !== 'auditor') {
    aviso('Sem permissão: a administração é para administradores e auditores.');
    return;
  }
  document.querySelector('.abas').hidden = false;
  const admin = eu.role === 'admin';
  // An auditor reads the audit log; the users' forms are the admin's alone.
  $('gestao').hidden = !admin;
  $('sem-permissao-usuarios').hidden = admin;
  if (!admin) $('gestao').remove();

  for (const b of document.querySelectorAll('.abas button')) {
    b.addEventListener('click', () => {
      abrir(b.dataset.aba);
      if (b.dataset.aba === 'auditoria') carregarAuditoria();
      else if (admin) carregarUsuarios();
    });
  }
  $('form-auditoria').addEventListener('submit', (ev) => { ev.preventDefault(); carregarAuditoria(); });
  $('btn-mais-auditoria').addEventListener('click', () => carregarAuditoria(true));
  $('btn-verificar').addEventListener('click', verificarAgora);
  if (admin) {
    $('btn-novo').addEventListener('click', () => abrirFicha(null));
    $('btn-cancelar').addEventListener('click', () => { $('form-usuario').hidden = true; });
    $('form-usuario').addEventListener('submit', salvar);
    sugestoes();
  }
  const pedida = new URL(location.href).searchParams.get('aba');
  const aba = pedida === 'auditoria' || !admin ? 'auditoria' : 'usuarios';
  abrir(aba);
  if (aba === 'auditoria') await carregarAuditoria();
  else await carregarUsuarios();
}

$('btn-sair').addEventListener('click', async () => {
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  location.assign('/');
});

iniciar();
