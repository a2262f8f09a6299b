// How the report pages write figures in Brazilian Portuguese: counts with a thousands
// dot, percentages with a decimal comma, durations as [h]:mm:ss, "—" where a ratio or a
// mean has no denominator. Pure functions; app.js and the page test use them.

const INTEIRO = new Intl.NumberFormat('pt-BR', { maximumFractionDigits: 0 });
const DECIMAL = new Intl.NumberFormat('pt-BR', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const REAIS = new Intl.NumberFormat('pt-BR', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export const VAZIO = '—';

/** A count: "1.234". */
export function numero(n) {
  return Number.isFinite(n) ? INTEIRO.format(n) : VAZIO;
}

/** A percentage 0–100 with one decimal: "87,5 %". */
export function percentual(p) {
  return Number.isFinite(p) ? `${DECIMAL.format(p)} %` : VAZIO;
}

/** Milliseconds as [h]:mm:ss (hours not wrapped at 24, as a spreadsheet shows them). */
export function duracao(ms) {
  if (!Number.isFinite(ms)) return VAZIO;
  const total = Math.round(Math.max(0, ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** "YYYY-MM-DD" as "DD/MM/YYYY". */
export function data(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso ?? '');
  return m ? `${m[3]}/${m[2]}/${m[1]}` : (iso || VAZIO);
}

/** Centavos as "R$ 1.234,56". */
export function reais(centavos) {
  return Number.isFinite(centavos) ? `R$ ${REAIS.format(centavos / 100)}` : VAZIO;
}

/** Hundredths of a percent (200) as "2,00 %". */
export function pontosBase(bp) {
  return Number.isFinite(bp) ? `${REAIS.format(bp / 100)} %` : VAZIO;
}

/** One typed cell of `/api/reports/…?format=table` as text, and whether it is a figure. */
export function celula(c) {
  if (!c || c.type === 'empty') return { texto: VAZIO, num: true };
  switch (c.type) {
    case 'count': return { texto: numero(c.value), num: true };
    case 'percent': return { texto: percentual(c.value), num: true };
    case 'duration_ms': return { texto: duracao(c.value), num: true };
    case 'date': return { texto: data(c.value), num: false };
    default: return { texto: String(c.value ?? ''), num: false };
  }
}
