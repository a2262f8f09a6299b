// How the desktop writes durations, times, states and figures in Brazilian Portuguese.
// Pure functions; app.js and the page tests use them.

export const ESTADOS = {
  logged_out: 'Fora das filas',
  available: 'Disponível',
  ringing: 'Tocando',
  on_call: 'Em atendimento',
  wrap_up: 'Pós-atendimento',
  paused: 'Em pausa',
};

export const PROXIMOS = {
  available: 'Disponível',
  paused: 'Pausa',
  logged_out: 'Sair das filas',
};

export const PERDAS = {
  no_answer: 'não atendida',
  rejected: 'recusada',
  caller_abandoned: 'desistência do cidadão',
  cancelled: 'cancelada',
};

/** The pauses the server itself puts an agent in (no configured label). */
export const PAUSAS_SISTEMA = {
  no_answer: 'Não atendeu',
  disconnected: 'Desconectado',
};

/** A pause reason's label: the configured one (`reasons`, as /api/pause_reasons lists
 * them), a system pause's, or the code itself when neither knows it. */
export function rotuloPausa(reasons, code) {
  return (reasons ?? []).find((r) => r.code === code)?.label ?? PAUSAS_SISTEMA[code] ?? code;
}

export const CONEXAO = {
  conectado: 'Conectado',
  conectando: 'Conectando…',
  reconectando: 'Reconectando…',
  desconectado: 'Desconectado',
};

/** `ms` as m:ss, or h:mm:ss past an hour; never negative (clocks a hair apart). */
export function duracao(ms) {
  if (!Number.isFinite(ms)) return '—';
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Time of day of a server timestamp, in the browser's zone (the operator's). */
export function hora(ms) {
  if (!Number.isFinite(ms)) return '—';
  return new Date(ms).toLocaleTimeString('pt-BR', { hour: '2-digit', minute: '2-digit' });
}

/** A fraction (0.87) as "87 %"; missing as a dash. */
export function percentual(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '—';
  return `${Math.round(x * 100)} %`;
}

/** A `{code,label}` list or a list of codes, as `{code,label}`. */
export function opcoes(lista) {
  if (!Array.isArray(lista)) return [];
  return lista
    .map((o) => (typeof o === 'string' ? { code: o, label: o } : o))
    .filter((o) => o && typeof o.code === 'string')
    .map((o) => ({ code: o.code, label: typeof o.label === 'string' ? o.label : o.code }));
}
