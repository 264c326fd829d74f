/* DrSAE Explorer, units page: choose a unit by clicking a filter (any element with data-unit) or a dot
 * of the angle vs ||C_i|| scatter; the choice goes into the selected-unit store and the URL. */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  const I = D.ids;

  function select(k) {
    if (window.location.pathname !== "/units") return;
    const q = new URLSearchParams(window.location.search);
    q.set("unit", String(k));
    window.history.replaceState(window.history.state, "", `/units?${q}`);
    if (ns.set_props) ns.set_props(I.SELECTED_UNIT, { data: k });
    const d = document.getElementById(I.UNIT_DETAIL);
    if (d && d.scrollIntoView && window.innerWidth < 900) d.scrollIntoView({ behavior: "smooth" });
  }

  document.addEventListener("click", (ev) => {
    const el = ev.target.closest && ev.target.closest("[data-unit]");
    if (el && window.location.pathname === "/units") select(Number(el.dataset.unit));
  });

  Object.assign(D, {
    /* Scatter hover: show the unit's decoder filter, role and class (customdata[0] is the unit index). */
    onScatterHover(hover, store) {
      const pt = hover && hover.points && hover.points[0];
      if (!pt || !Array.isArray(pt.customdata) || !store) return [ns.no_update, ns.no_update];
      const u = store.units.find((x) => x.index === pt.customdata[0]);
      if (!u) return [ns.no_update, ns.no_update];
      const cls = u.role === "part" ? "" : `, class ${u["class"]}`;
      return [u.decoder_png, `unit ${u.index}: ${u.role}${cls} · angle ${u.angle.toFixed(2)} rad · ||C_i|| ${u.c_norm.toFixed(2)}`];
    },
    /* Scatter click: customdata[0] is the unit index. */
    onScatterClick(click) {
      const pt = click && click.points && click.points[0];
      if (!pt || !Array.isArray(pt.customdata)) return ns.no_update;
      select(pt.customdata[0]);
      return ns.no_update;
    },
  });
})();
