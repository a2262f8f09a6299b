// The login page: sends the user and password to POST /api/login (the server answers with
// the session cookie) and opens the page asked for (`?volta=`), else the desktop (a
// wallboard user: the wallboard). Every failure is told in Portuguese; the
// password never leaves this form except in that one request.

const form = document.getElementById('form-login');
const erro = document.getElementById('erro-login');
const botao = document.getElementById('entrar');
const DESTINO = '/desktop/';
const PAINEL = '/painel/';

/** The page asked for (`?volta=/admin/`: a page that found no session sends one here),
 * if it is one of atende's pages; null otherwise (never another site). */
function pedido() {
  const v = new URLSearchParams(location.search).get('volta');
  return v && /^\/(desktop|painel|relatorios|qualidade|admin)\/$/.test(v) ? v : null;
}

/** Where a logged-in user goes: the page asked for, a wallboard (TV) user to the board,
 * everyone else to the desktop. */
async function destino() {
  if (pedido()) return pedido();
  try {
    const r = await fetch('/api/me', { credentials: 'same-origin' });
    if (r.ok && (await r.json()).role === 'wallboard') return PAINEL;
  } catch { /* the desktop then */ }
  return DESTINO;
}

function mostrar(texto) {
  erro.textContent = texto;
  erro.hidden = !texto;
}

/** The pt-BR sentence for a refused login (status and Retry-After of the answer). */
export function motivo(status, retryAfter) {
  if (status === 401 || status === 403) return 'Usuário ou senha incorretos.';
  if (status === 429) {
    const s = parseInt(retryAfter ?? '', 10);
    return Number.isFinite(s) && s > 0
      ? `Muitas tentativas. Tente de novo em ${s} s.`
      : 'Muitas tentativas. Aguarde um pouco e tente de novo.';
  }
  if (status === 400) return 'Informe usuário e senha.';
  if (status === 503 && retryAfter) {
    return 'Muitos acessos ao mesmo tempo. Tente de novo em alguns segundos.';
  }
  return `Não foi possível entrar (erro ${status}). Tente de novo.`;
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const user = form.user.value.trim();
  const password = form.password.value;
  if (!user || !password) {
    mostrar('Informe usuário e senha.');
    return;
  }
  mostrar('');
  botao.disabled = true;
  try {
    const r = await fetch('/api/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user, password }),
    });
    if (r.ok) {
      location.assign(await destino());
      return;
    }
    mostrar(motivo(r.status, r.headers.get('Retry-After')));
    form.password.value = '';
    form.password.focus();
  } catch {
    mostrar('Servidor indisponível. Verifique a conexão e tente de novo.');
  } finally {
    botao.disabled = false;
  }
});

// Already logged in (a session cookie that still works): straight to the desktop.
fetch('/api/me', { credentials: 'same-origin' })
  .then(async (r) => {
    if (r.ok) location.replace(pedido() ?? ((await r.json()).role === 'wallboard' ? PAINEL : DESTINO));
  })
  .catch(() => {});
