/* DrSAE Explorer, Dynamics page: the intro panel remembers being closed. Its summary line flips the choice in
 * the intro-closed store (kept in localStorage) instead of the element itself; a clientside callback then sets
 * the panel's `open` from the store, so Dash, the page and the next visit agree. */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  const I = D.ids;

  // A click (or Enter / Space on the focused summary, which the browser turns into a click).
  document.addEventListener("click", (ev) => {
    const summary = ev.target.closest && ev.target.closest(`#${I.INTRO} > summary`);
    if (!summary || !ns.set_props) return;
    ev.preventDefault(); // the store decides, not the browser's own toggle
    ns.set_props(I.INTRO_CLOSED, { data: summary.parentElement.open });
  });
})();
