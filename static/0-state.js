/* DrSAE Explorer: the Dynamics page's state in the browser, one object with named fields (window.drsae.state).
 *
 * Every field is declared here; the object is sealed, so a misspelt field throws (the files run in strict mode)
 * instead of quietly starting a second copy. state.on({field: fn, ...}) calls fn(value, old) after each change
 * of that field (a new value, compared with ===), so a file follows a field without the writer knowing who
 * reads it.
 * The file name sorts first on purpose: Dash loads static/*.js in file-name order, and the other files use the
 * state as they load.
 */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));

  const FIELDS = {
    units: null, // the model's slim units payload (app/callbacks/dynamics.py: slim_units): roles, colours, order
    enc: null, // the latest encode answer: every iteration, the drives, the prototype split, the baseline
    base: null, // the run the steered one is compared with: enc itself, or enc.baseline under interventions
    t: 11, // current (fractional) iteration
    T: 11,
    playing: false,
    source: null, // {kind: "digit", ref, dataset, index} | {kind: "drawn", shared?} | {kind: "upload"}
    current: null, // what is encoded now: {input: {image} | {dataset, split, index}, preprocess}
    initialT: null, // the URL's t, read once
    interventions: [], // [{unit, value, from_iteration, to_iteration}] sent with every encode
    selected: null, // the unit chosen in the unit card (static/steer.js)
    compareId: "", // the second model encoded on the same input ("" for none): the compare picker's value
    compare: null, // its encode answer
    ablateClass: "0", // the class the "ablate a class" button acts on
    exportFigure: null, // the graph id the figure export writes
    fixedScale: null, // the heat map's fixed top, or null to scale each input to its own largest z
    perf: { strokeEnd: null, firstFrame: null, latencies: [], apiMs: [], allViewsLatencies: [], frameTimes: [] },
  };

  const values = { ...FIELDS };
  const listeners = {};
  const state = {};
  for (const name of Object.keys(FIELDS)) {
    listeners[name] = [];
    Object.defineProperty(state, name, {
      enumerable: true,
      get: () => values[name],
      set(value) {
        const old = values[name];
        values[name] = value;
        if (value !== old) for (const fn of listeners[name]) fn(value, old);
      },
    });
  }
  Object.defineProperty(state, "on", {
    value(handlers) {
      for (const [name, fn] of Object.entries(handlers)) {
        if (!listeners[name]) throw new Error(`window.drsae.state has no field "${name}"`);
        listeners[name].push(fn);
      }
    },
  });
  D.state = Object.seal(state);
})();
