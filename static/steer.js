/* DrSAE Explorer: act on the dynamics. The unit card (choose a unit by hover, click or number; ablate or
 * clamp it; what drives it over t), the interventions list, the second model to compare, PNG upload by drag
 * and drop, and exports. Uses window.drsae: its state (static/0-state.js), re-runs (static/animate.js), its api
 * (static/api.js) for requests, its ids (app/ids.py). Listeners sit on `document`: Dash mounts the page after this script runs.
 */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const NS = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  const I = NS.ids;
  const S = () => NS.state;
  const D = () => NS;
  const $ = (id) => document.getElementById(id);
  const gd = (id) => { const el = $(id); return el ? el.querySelector(".js-plotly-plot") : null; };
  // The two drives that are no role's (the roles' colours come with the units: app/figures.py ROLE_COLORS).
  const INPUT_COLOR = "#555555", SELF_COLOR = "#CC79A7";

  /* A steering field's message, in its slot beside it ("" clears it). */
  function fieldError(id, msg) {
    const el = $(id + I.ERROR_SUFFIX);
    if (el) el.textContent = msg;
    return !msg;
  }
  /* The text of a field, as typed. */
  const typed = (id) => String(($(id) || {}).value ?? "").trim();
  const WHOLE = /^\d+$/;
  const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

  function unitInfo(k) {
    const s = S();
    return s && s.units ? s.units.units[String(k)] : null;
  }

  function unitText(u) {
    const cls = u.role === "part" ? "" : `, class ${D().nameOf(u["class"])}`;
    return `unit ${u.index}: ${u.role}${cls} · angle ${u.angle.toFixed(2)} rad · ||C_i|| ${u.c_norm.toFixed(2)}`;
  }

  /* The selected unit's input over t: E x - b, recurrent drive by the senders' role, self-connection. */
  function drawDrive() {
    const s = S();
    const el = gd(I.DRIVE_GRAPH);
    if (!el || !window.Plotly) return;
    const k = s.selected;
    const d = s.enc;
    if (k === null || k === undefined || !d || !d.recurrent_drive_by_role || !unitInfo(k)) {
      window.Plotly.react(el, [], { annotations: [{ text: "Choose a unit", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
        xaxis: { visible: false }, yaxis: { visible: false }, margin: { l: 50, r: 10, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)" });
      return;
    }
    const T = d.iterations;
    const ts = [...Array(T).keys()].map((i) => i + 1);
    const traces = [{ x: ts, y: new Array(T).fill(d.input_drive[k]), name: "input E x - b", mode: "lines", line: { color: INPUT_COLOR, dash: "dash" } }];
    const { roles, role_colors: colors } = s.units;
    for (const r of [...roles, "self"]) {
      const label = r === "self" ? "self-connection" : `from ${r}-units`;
      const color = r === "self" ? SELF_COLOR : colors[r];
      traces.push({ x: ts, y: d.recurrent_drive_by_role[r].map((row) => row[k]), name: label, mode: "lines+markers", marker: { size: 4 }, line: { color } });
    }
    traces.push({ x: ts, y: d.z.map((row) => row[k]), name: "z(t) = relu(sum)", mode: "lines+markers", line: { color: "#111", width: 3 } });
    window.Plotly.react(el, traces, {
      margin: { l: 50, r: 10, t: 10, b: 20 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
      font: { size: 11 }, legend: { orientation: "h", y: -0.12, yanchor: "top" }, xaxis: { dtick: 1 },
      yaxis: { title: { text: `input to unit ${k}` }, zeroline: true, zerolinecolor: "#888" },
    }, { displaylogo: false, displayModeBar: false, responsive: true });
  }

  function renderInterventions() {
    const ul = $(I.INTERVENTIONS);
    if (!ul) return;
    const ivs = S().interventions;
    ul.textContent = "";
    if (!ivs.length) {
      const li = document.createElement("li");
      li.className = "caption";
      li.textContent = "No interventions: the model runs as trained.";
      ul.appendChild(li);
      return;
    }
    ivs.forEach((v, i) => {
      const li = document.createElement("li");
      li.className = "intervention";
      const what = v.value === 0 ? "ablated" : `clamped to ${v.value}`;
      li.appendChild(document.createTextNode(`unit ${v.unit} ${what}, t = ${v.from_iteration}..${v.to_iteration} `));
      const b = document.createElement("button");
      b.className = "btn btn-small remove-intervention";
      b.dataset.index = String(i);
      b.textContent = "×";
      b.setAttribute("aria-label", `remove the intervention on unit ${v.unit}`);
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  /* Add interventions from the typed "from iteration": a value outside 1..T is refused beside the field,
   * never moved into range. */
  function addInterventions(units, value) {
    const s = S();
    if (!s.enc) return;
    const T = s.T;
    const text = typed(I.FROM_ITERATION);
    const from = WHOLE.test(text) ? Number(text) : NaN;
    if (!(from >= 1 && from <= T)) return fieldError(I.FROM_ITERATION, `a whole number in 1..${T}`);
    fieldError(I.FROM_ITERATION, "");
    const keep = s.interventions.filter((v) => !units.includes(v.unit));
    const add = units.map((k) => ({ unit: k, value, from_iteration: from, to_iteration: T }));
    D().setInterventions([...keep, ...add]);
  }

  function download(name, text, type) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
  }

  function exportName(ext) {
    const s = S();
    const src = s.source && s.source.kind === "digit" ? s.source.ref.replace(":", "-") : (s.source && s.source.kind) || "input";
    return `drsae-${s.units ? s.units.model_id : "model"}-${src}.${ext}`;
  }

  function exportData(format) {
    const s = S();
    const e = s.enc;
    if (!e) return D().status("Nothing to export yet: draw or pick an input first.");
    if (format === "json") {
      const out = { model_id: e.model_id, source: s.source, interventions: e.interventions, iterations: e.iterations,
        class_names: s.units.class_names, prediction: e.prediction, decision_iteration: e.decision_iteration,
        probabilities: e.probabilities, z: e.z };
      if (out.source && out.source.image) out.source = { ...out.source, image: undefined };
      // the image the model saw and the body that encodes it again (POST /api/models/{id}/encode)
      out.input = e.input;
      out.replay = { image: e.input, preprocess: "none", interventions: e.interventions, reconstructions: false };
      return download(exportName("json"), JSON.stringify(out, null, 1), "application/json");
    }
    const n = e.z[0].length;
    const head = ["t", ...s.units.class_names.map((c) => `p_${c}`), ...[...Array(n).keys()].map((k) => `z_${k}`)];
    const lines = [`# model ${e.model_id}; interventions ${D().formatInterventions(e.interventions) || "none"}; decision iteration ${e.decision_iteration}`,
      head.map((h) => (/[",]/.test(h) ? `"${h.replace(/"/g, '""')}"` : h)).join(",")];
    for (let t = 0; t < e.iterations; t++) lines.push([t + 1, ...e.probabilities[t], ...e.z[t]].join(","));
    download(exportName("csv"), lines.join("\n") + "\n", "text/csv");
  }

  /* A figure as a file that stands on its own: an opaque white background (a slide may be dark), a title
   * naming the figure, the model, the input and t, and the heat map with its colour scale. */
  async function exportFigure(format) {
    const s = S();
    const sel = (($(I.EXPORT_FIGURE) || {}).textContent || "").trim();
    const id = s.exportFigure || I.PROBS;
    const g = gd(id);
    if (!g || !window.Plotly) return D().status(`That figure is not on the page (${sel}).`);
    const input = (($(I.DIGIT_CAPTION) || {}).textContent || "").trim();
    const model = id === I.COMPARE_PROBS && s.compare ? s.compare.model_id : s.units ? s.units.model_id : "";
    const title = [sel, `model ${model}`, input, `t = ${Math.round(s.t)}`].filter(Boolean).join(" · ");
    const data = g.data.map((tr) => (tr.type === "heatmap"
      ? { ...tr, showscale: true, colorbar: { title: { text: "activity z" }, thickness: 14 } }
      : tr));
    const layout = { ...g.layout, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
      title: { text: title, font: { size: 13 }, x: 0.01, xanchor: "left" },
      margin: { ...(g.layout.margin || {}), t: 50 } };
    const scale = data.some((tr) => tr.type === "heatmap") ? 90 : 0; // room for the colour scale
    const box = g.getBoundingClientRect();
    const w = Math.round(box.width) + scale, h = Math.round(box.height) + 30;
    const url = await window.Plotly.toImage({ data, layout }, { format, width: w, height: h, scale: format === "png" ? 2 : 1 });
    const a = document.createElement("a");
    a.href = url;
    a.download = `${exportName(format).replace(/\.(png|svg)$/, "")}-${id}.${format}`;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => a.remove(), 0);
  }

  function readFile(file) {
    if (!file) return;
    if (file.type && file.type !== "image/png") return D().status(`Not a PNG file: ${file.name} (${file.type}).`);
    const r = new FileReader();
    r.onload = () => D().encodeUpload(String(r.result));
    r.readAsDataURL(file);
  }

  /* ---- the compared model ---------------------------------------------------------------------------- */
  // The compared model is another model (its own weights, T and classes): its run is one more request, of
  // that model, on the same input; the model shown still costs one.
  let compareSeq = 0;
  const compare = {
    async encode() {
      const s = S();
      const id = s.compareId;
      const pred = $(I.COMPARE_PREDICTION);
      if (!id || !s.current) {
        if (pred) pred.textContent = "–";
        s.compare = null;
        return;
      }
      const seq = ++compareSeq;
      const r = await NS.api.encode(id, { ...s.current.input, preprocess: s.current.preprocess, reconstructions: true });
      if (seq !== compareSeq) return;
      if (!r.ok) {
        if (pred) pred.textContent = "–";
        return D().status(`Could not encode with ${id}: ${r.detail}`);
      }
      const c = (s.compare = r.data);
      if (pred) pred.textContent = D().outName(c, c.prediction); // the compared model's own class names
      const g = gd(I.COMPARE_PROBS);
      if (g && window.Plotly) {
        const ts = [...Array(c.iterations).keys()].map((i) => i + 1);
        const traces = [];
        for (let k = 0; k < c.probabilities[0].length; k++) {
          traces.push({ x: ts, y: c.probabilities.map((p) => p[k]), name: D().outName(c, k), mode: "lines+markers",
            line: { color: D().colorOf(k), width: 2 }, marker: { size: 5 } });
        }
        await window.Plotly.react(g, traces, {
          margin: { l: 50, r: 10, t: 24, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff", font: { size: 11 },
          showlegend: false, title: { text: `${c.model_id}: decided at t = ${c.decision_iteration}`, font: { size: 12 }, x: 0.02 },
          xaxis: { title: { text: "iteration t" }, dtick: 1, range: [0.8, c.iterations + 0.2] }, yaxis: { title: { text: "probability" }, range: [0, 1.02] },
        }, { displaylogo: false, displayModeBar: false, responsive: true });
      }
      compare.frame(s.t);
    },
    frame(tf) {
      const c = S().compare;
      if (!c) return;
      const t = Math.max(1, Math.min(c.iterations, tf));
      const r = c.reconstructions[Math.round(t) - 1];
      let mx = 0;
      for (const row of c.reconstructions[c.iterations - 1]) for (const v of row) mx = Math.max(mx, v);
      D().drawGrid(I.COMPARE_RECON, r.map((row) => row.map((v) => v / (mx || 1))));
      D().placeOverlays(I.COMPARE_PROBS, t, false);
    },
  };
  NS.compare = compare;

  // The unit card follows the unit chosen and each new run, the list the interventions; a new compared
  // model goes into the URL and is encoded.
  NS.state.on({
    selected: drawDrive,
    enc() {
      drawDrive();
      renderInterventions();
    },
    interventions: renderInterventions,
    compareId() {
      D().syncUrl();
      compare.encode();
    },
  });

  Object.assign(NS, {
    /* A unit is shown on hover, chosen on click or by number (keyboard). Outputs: filter image, text, unit
     * page link, Ablate and Clamp disabled, the number box. */
    onUnit(heatHover, curveHover, heatClick, curveClick, typedUnit) {
      const none = [ns.no_update, ns.no_update, ns.no_update, ns.no_update, ns.no_update, ns.no_update];
      const s = S();
      const trig = (ns.callback_context.triggered || [])[0];
      if (!trig || !s || !s.units) return none;
      const prop = trig.prop_id;
      let k = null;
      let choose = false;
      const count = Object.keys(s.units.units).length;
      if (prop.startsWith(I.UNIT_INPUT)) {
        const text = String(typedUnit ?? "").trim();
        if (text === "") return (fieldError(I.UNIT_INPUT, ""), none);
        if (!WHOLE.test(text) || !unitInfo(Number(text))) {
          fieldError(I.UNIT_INPUT, `a unit is a whole number in 0..${count - 1}`);
          return [ns.no_update, ns.no_update, ns.no_update, true, true, ns.no_update];
        }
        fieldError(I.UNIT_INPUT, "");
        k = Number(text);
        choose = true;
      } else {
        const ev = { [`${I.HEATMAP}.hoverData`]: heatHover, [`${I.CURVES}.hoverData`]: curveHover,
          [`${I.HEATMAP}.clickData`]: heatClick, [`${I.CURVES}.clickData`]: curveClick }[prop];
        const pt = ev && ev.points && ev.points[0];
        if (!pt) return none;
        k = Array.isArray(pt.customdata) ? pt.customdata[0] : pt.customdata;
        choose = prop.endsWith("clickData");
        if (!choose && s.selected !== null && s.selected !== undefined) {
          // a chosen unit stays in the card; hovering only marks the row
          const u0 = unitInfo(k);
          if (u0) D().highlightUnit(u0.index);
          return none;
        }
      }
      const u = unitInfo(k);
      if (!u) return none; // a hover outside the units
      if (choose) s.selected = u.index;
      D().highlightUnit(u.index);
      const href = `/units?model=${encodeURIComponent(s.units.model_id)}&unit=${u.index}`;
      const off = !choose;
      if (choose && !prop.startsWith(I.UNIT_INPUT)) fieldError(I.UNIT_INPUT, "");
      return [u.decoder_png, unitText(u), href, off, off, prop.startsWith(I.UNIT_INPUT) ? ns.no_update : (choose ? String(u.index) : ns.no_update)];
    },
    /* The controls' values into the state (its readers follow: the compared model is encoded, a new scale
     * re-encodes), and into the choices store (app/callbacks/dynamics.py). Inputs: compare picker, class to
     * ablate, figure to export, the fixed-scale checklist and its top. */
    onChoices(compareId, ablateClass, exportFigure, fixed, fixedMax) {
      const s = S();
      const top = Number(fixedMax);
      s.fixedScale = (fixed || []).length && Number.isFinite(top) && top > 0 ? top : null;
      s.ablateClass = ablateClass;
      s.exportFigure = exportFigure;
      s.compareId = compareId || "";
      return { compare: s.compareId, ablate_class: s.ablateClass, export_figure: s.exportFigure, fixed_scale: s.fixedScale };
    },
    /* dcc.Upload hands over the chosen file as a data URL; it is cleared once read (output: its contents). */
    onUpload(contents) {
      if (typeof contents !== "string") return ns.no_update;
      if (!contents.startsWith("data:image/png;base64,")) D().status("Not a PNG file: choose a .png image.");
      else D().encodeUpload(contents);
      return null;
    },
  });

  // editing a refused field takes its message away; it is checked again on the next click
  document.addEventListener("input", (ev) => {
    const id = ev.target && ev.target.id;
    if (id === I.FROM_ITERATION || id === I.CLAMP_VALUE) fieldError(id, "");
  });

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest && ev.target.closest("button");
    if (!b) return;
    const s = S();
    if (b.id === I.ABLATE_BUTTON && s.selected != null) addInterventions([s.selected], 0);
    else if (b.id === I.CLAMP_BUTTON && s.selected != null) {
      const text = typed(I.CLAMP_VALUE);
      const v = NUMBER.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(v) || v < 0) return fieldError(I.CLAMP_VALUE, "the clamp value must be a number >= 0");
      fieldError(I.CLAMP_VALUE, "");
      addInterventions([s.selected], v);
    } else if (b.id === I.ABLATE_CLASS_BUTTON) {
      const cls = Number(s.ablateClass || 0);
      const units = Object.values(s.units ? s.units.units : {}).filter((u) => u.role === "categorical" && u["class"] === cls).map((u) => u.index);
      if (!units.length) return D().status(`This model has no categorical units of class ${D().nameOf(cls)}.`);
      addInterventions(units, 0);
    } else if (b.id === I.CLEAR_INTERVENTIONS) {
      D().setInterventions([]);
    } else if (b.classList.contains("remove-intervention")) {
      const i = Number(b.dataset.index);
      D().setInterventions(s.interventions.filter((_, j) => j !== i));
    } else if (b.id === I.EXPORT_JSON) exportData("json");
    else if (b.id === I.EXPORT_CSV) exportData("csv");
    else if (b.id === I.EXPORT_PNG) exportFigure("png");
    else if (b.id === I.EXPORT_SVG) exportFigure("svg");
  });

  /* PNG upload: the file input, or a file dropped on the drawing box. */
  document.addEventListener("dragover", (ev) => {
    if (ev.target && ev.target.id === I.DRAW_CANVAS) { ev.preventDefault(); ev.target.classList.add("drop-target"); }
  });
  document.addEventListener("dragleave", (ev) => {
    if (ev.target && ev.target.id === I.DRAW_CANVAS) ev.target.classList.remove("drop-target");
  });
  document.addEventListener("drop", (ev) => {
    if (!ev.target || ev.target.id !== I.DRAW_CANVAS) return;
    ev.preventDefault();
    ev.target.classList.remove("drop-target");
    readFile(ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0]);
  });
})();
