// Builds each report tab from the page's one `<template id="relatorio">`: the form with
// the fields its section names in `data-campos` (taken from `<template id="campos">`, in
// that order, before "Ver" and the downloads), the main table and the definitions.
// A section's own markup is kept: its `table.principal` (a fixed head) replaces the empty
// one, and anything else it holds goes under the table, before the definitions.
// Runs once, before app.js looks anything up; the page is then as if written by hand.

/** Fills every `section.relatorio` of `doc` from the templates. */
export function montarRelatorios(doc) {
  const molde = doc.getElementById('relatorio').content;
  const campos = doc.getElementById('campos').content;
  for (const secao of doc.querySelectorAll('section.relatorio')) {
    const bloco = molde.cloneNode(true);
    const form = bloco.querySelector('form');
    const ver = form.querySelector('button[type=submit]');
    for (const nome of (secao.dataset.campos ?? '').split(/\s+/).filter(Boolean)) {
      const campo = campos.querySelector(`[data-campo="${nome}"]`).cloneNode(true);
      campo.removeAttribute('data-campo');
      form.insertBefore(campo, ver);
    }
    const proprios = [...secao.children];
    const principal = proprios.find((e) => e.matches('table.principal'));
    if (principal) bloco.querySelector('table.principal').replaceWith(principal);
    const definicoes = bloco.querySelector('.definicoes');
    for (const e of proprios) if (e !== principal) definicoes.before(e);
    secao.removeAttribute('data-campos');
    secao.replaceChildren(bloco);
  }
}
