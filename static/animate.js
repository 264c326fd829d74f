/* DrSAE Explorer: encode + animate the dynamics views in the browser (no server round trip per frame).
 *
 * One POST /api/models/{id}/encode per input returns every iteration t = 1..T (z, probabilities,
 * reconstructions, the drives and the prototype split of the unit card, and under interventions the run
 * without them). The figures arrive from Python (app/figures.py) as templates: this file restyles their data
 * once per input, then each frame only moves HTML overlays (the current-t markers) and repaints the
 * reconstruction canvas, interpolating between iterations so playback is smooth.
 * Contract with app/figures.py: heat-map row i is units.order[i]; curves trace c is the class group
 * units.curve_groups[c] (each unit's T values, then a gap); the last curves trace is the hovered unit;
 * the probabilities have one trace per class, then one per class for the run before the interventions.
 * The state it shares with the other files is window.drsae.state (static/0-state.js).
 */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  const I = D.ids;
  const S = D.state;
  // This file's own bookkeeping (no other file reads it).
  let raf = 0;
  let playLoop = 0; // playback loop counter: a tick of an older loop stops itself (one loop at a time)
  let encodeSeq = 0; // encode request counter: late answers to old requests are dropped
  let statusOwn = false; // the status line shows this file's message (so only such a message is cleared here)
  let sliderEcho = null; // the slider value this file set (so its echo is not taken for the user's move)
  let shownT = null; // the integer t the labels show
  let partsT = null; // the integer t the prototype split shows
  let inputMax = 1; // the final reconstruction's peak: every t is drawn on its scale
  let loadingModel = null; // the model picked whose first encode is not shown yet
  const SPEED = 4; // iterations per second while playing

  function gd(id) {
    const el = document.getElementById(id);
    return el ? el.querySelector(".js-plotly-plot") : null;
  }
  function setProps(id, props) {
    if (ns.set_props) ns.set_props(id, props);
  }
  const colorOf = (c) => (S.units && S.units.class_colors ? S.units.class_colors[c] : null) || "#111";
  const nameOf = (c) => (S.units && S.units.class_names ? S.units.class_names[c] : String(c));
  /* A class in an encode answer's words: each answer carries its model's class names. */
  const outName = (enc, c) => (enc && enc.class_names ? enc.class_names[c] : nameOf(c));

  function drawGrid(canvasId, img) {
    const c = document.getElementById(canvasId);
    if (!c || !img) return;
    const ctx = c.getContext("2d");
    const h = img.length, w = img[0].length;
    const data = ctx.createImageData(w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = Math.max(0, Math.min(255, Math.round(img[y][x] * 255)));
        const o = 4 * (y * w + x);
        data.data[o] = data.data[o + 1] = data.data[o + 2] = v;
        data.data[o + 3] = 255;
      }
    }
    ctx.putImageData(data, 0, 0);
  }

  /* Reconstruction at fractional t, interpolated between iterations; scaled like the input. */
  function drawRecon(tf) {
    const r = S.enc && S.enc.reconstructions;
    if (!r) return;
    const T = r.length;
    const a = Math.max(0, Math.min(T - 1, Math.floor(tf) - 1));
    const b = Math.min(T - 1, a + 1);
    const f = Math.max(0, Math.min(1, tf - Math.floor(tf)));
    const scale = inputMax || 1;
    const img = r[a].map((row, y) =>
      row.map((v, x) => (((1 - f) * v + f * r[b][y][x]) / scale)));
    drawGrid(I.RECON_CANVAS, img);
  }

  /* Reconstructions split by role at fractional t (the roles are the API's), on the input's scale. */
  function drawParts(tf) {
    const by = S.enc && S.enc.reconstructions_by_role;
    for (const role of S.units ? S.units.roles : []) {
      const r = by && by[role];
      if (!r) continue;
      const a = Math.max(0, Math.min(r.length - 1, Math.round(tf) - 1));
      const scale = inputMax || 1;
      drawGrid(I[`RECON_${role.toUpperCase()}`], r[a].map((row) => row.map((v) => Math.max(0, v) / scale)));
    }
  }

  /* A graph's plot area in its .graph-wrap's pixels, and data -> pixel maps for its axes; null until drawn.
   * The area is the drag rectangle Plotly draws over it (the margins grow for a legend, so gd.layout.margin
   * alone does not say where it is); the axes' ranges are the figure's own (app/figures.py sets them). */
  function plotArea(g) {
    const wrap = g && g.closest(".graph-wrap");
    const drag = g && g.querySelector(".nsewdrag");
    const L = g && g.layout;
    // a figure without axes (app/figures.py empty_figure: "No categorical units") has no iterations to mark
    if (!wrap || !drag || !L || !L.xaxis || L.xaxis.visible === false || !Array.isArray(L.xaxis.range)) return null;
    const a = drag.getBoundingClientRect(), w = wrap.getBoundingClientRect();
    const left = a.left - w.left, top = a.top - w.top;
    const [x0, x1] = L.xaxis.range;
    const yr = L.yaxis && Array.isArray(L.yaxis.range) ? L.yaxis.range : null;
    return {
      left, top, width: a.width, height: a.height,
      x: (v) => left + ((v - x0) / (x1 - x0)) * a.width,
      y: yr ? (v) => top + ((yr[1] - v) / (yr[1] - yr[0])) * a.height : null, // range[1] is at the top
    };
  }

  /* Place the overlays of one graph at fractional t (HTML, not Plotly: a relayout costs 50-700 ms here). */
  function placeOverlays(id, tf, band) {
    const area = plotArea(gd(id));
    const cur = document.getElementById(id + I.CURSOR_SUFFIX);
    const fog = document.getElementById(id + I.FOG_SUFFIX);
    if (!area) {
      for (const el of [cur, fog]) if (el) el.style.display = "none";
      return;
    }
    const x = area.x;
    const top = `${area.top}px`, height = `${area.height}px`;
    if (cur) {
      const x0 = band ? x(tf - 0.5) : x(tf) - 1;
      const x1 = band ? x(tf + 0.5) : x(tf) + 1;
      Object.assign(cur.style, { display: "block", left: `${x0}px`, width: `${x1 - x0}px`, top, height });
    }
    if (fog) {
      const x0 = x(tf) + 1, x1 = area.left + area.width;
      Object.assign(fog.style, { display: x1 > x0 ? "block" : "none", left: `${x0}px`, width: `${Math.max(0, x1 - x0)}px`, top, height });
    }
  }

  const ti0 = (tf) => Math.round(tf);
  const iterationText = (ti) => `t = ${ti} / ${S.T}`;

  /* The decision iteration as a dashed line on the probability chart, with its label. */
  function placeDecision() {
    const el = document.getElementById(I.DECISION_MARK);
    const area = plotArea(gd(I.PROBS));
    if (!el) return;
    if (!S.enc || !area) { el.style.display = "none"; return; }
    const d = S.enc.decision_iteration;
    Object.assign(el.style, { display: "block", left: `${area.x(d) - 1}px`, top: `${area.top}px`, height: `${area.height}px` });
    el.dataset.t = String(d);
    const lab = el.querySelector(".decision-label");
    if (lab) lab.textContent = `decided at t = ${d}`;
  }

  /* One frame at fractional t: overlays, reconstruction, and (on integer steps) labels, slider and URL. */
  function renderFrame(tf) {
    const t0 = performance.now();
    const T = S.T;
    tf = Math.max(1, Math.min(T, tf));
    S.t = tf;
    placeOverlays(I.HEATMAP, tf, true);
    placeOverlays(I.CURVES, tf, false);
    placeOverlays(I.PROBS, tf, false);
    placeDecision();
    drawRecon(tf);
    if (ti0(tf) !== partsT) { partsT = ti0(tf); drawParts(tf); }
    if (D.compare) D.compare.frame(tf);
    const ti = Math.round(tf);
    if (ti !== shownT) {
      shownT = ti;
      const label = document.getElementById(I.ITERATION_LABEL);
      if (label) label.textContent = iterationText(ti);
      if (S.enc) {
        const p = S.enc.probabilities[ti - 1];
        let best = 0;
        for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
        const el = document.getElementById(I.PROB_AT_T);
        if (el) el.textContent = `at t = ${ti}: ${outName(S.enc, best)} with p = ${(p[best] * 100).toFixed(1)}%`;
      }
      sliderEcho = ti;
      setProps(I.ITERATION_SLIDER, { value: ti });
      if (!S.playing) syncUrl();
    }
    const views = document.querySelector(".views-grid");
    if (views) views.dataset.frame = tf.toFixed(3);
    if (S.perf.strokeEnd !== null && S.perf.firstFrame === null) {
      S.perf.firstFrame = performance.now();
      S.perf.latencies.push(S.perf.firstFrame - S.perf.strokeEnd);
    }
    S.perf.renderMs = performance.now() - t0;
  }

  /* Linked hover: mark unit k's row in the heat map and draw its curve bold in the curves view. */
  function highlightUnit(k) {
    const u = S.units;
    if (!u) return;
    const h = gd(I.HEATMAP), row = document.getElementById(I.HEATMAP + I.ROW_SUFFIX);
    const r = u.order.indexOf(k);
    const area = plotArea(h);
    if (area && area.y && row && r >= 0) {
      const y0 = area.y(r - 0.5), y1 = area.y(r + 0.5);
      Object.assign(row.style, {
        display: "block", left: `${area.left}px`, width: `${area.width}px`,
        top: `${Math.min(y0, y1)}px`, height: `${Math.abs(y1 - y0)}px`,
      });
    }
    const c = gd(I.CURVES);
    if (c && c.data && S.enc && c.data.length === u.curve_groups.length + 1) {
      const cls = u.units[String(k)] ? u.units[String(k)]["class"] : 0;
      window.Plotly.restyle(c, { y: [S.enc.z.map((zt) => zt[k])], "line.color": colorOf(cls) }, [c.data.length - 1]);
    }
  }

  function setPlayLabel() {
    const b = document.getElementById(I.PLAY_BUTTON);
    if (b) {
      b.textContent = S.playing ? "❚❚ Pause" : "▶ Play";
      b.setAttribute("aria-pressed", S.playing ? "true" : "false");
    }
  }

  function play(fromStart) {
    if (!S.enc) return;
    // Stop the loop that may be running (a new input while playing): two loops would each advance t,
    // playing at twice the speed.
    cancelAnimationFrame(raf);
    const loop = ++playLoop;
    if (fromStart || S.t >= S.T) S.t = 1;
    S.playing = true;
    setPlayLabel();
    let last = performance.now();
    const tick = (now) => {
      if (!S.playing || loop !== playLoop) return;
      if (!document.getElementById(I.HEATMAP)) return pause(); // the user left the page
      S.perf.frameTimes.push(now);
      if (S.perf.frameTimes.length > 600) S.perf.frameTimes.shift();
      const dt = (now - last) / 1000;
      last = now;
      const next = Math.min(S.T, S.t + dt * SPEED);
      renderFrame(next);
      if (next >= S.T) return pause();
      raf = requestAnimationFrame(tick);
    };
    renderFrame(S.t);
    raf = requestAnimationFrame(tick);
  }

  function pause() {
    S.playing = false;
    playLoop++;
    cancelAnimationFrame(raf);
    setPlayLabel();
    syncUrl();
  }

  function step(delta) {
    pause();
    renderFrame(Math.round(S.t) + delta);
  }

  /* Page state (model, input, t) in the URL, without a navigation. A drawing or an upload goes in as the
   * 28x28 image the model saw (packDrawing), so the link replays it. */
  function syncUrl() {
    if (window.location.pathname !== "/") return;
    const q = new URLSearchParams(window.location.search);
    if (S.units) q.set("model", S.units.model_id);
    if (S.source && S.source.kind === "digit") q.set("digit", S.source.ref);
    else q.delete("digit");
    if (S.source && S.source.kind !== "digit" && S.enc && S.enc.input) q.set("draw", packDrawing(S.enc.input));
    else q.delete("draw");
    if (!S.playing && S.enc) q.set("t", String(Math.round(S.t)));
    else q.delete("t");
    const iv = formatInterventions(S.interventions);
    if (iv) q.set("iv", iv);
    else q.delete("iv");
    if (S.compareId) q.set("compare", S.compareId);
    else q.delete("compare");
    const url = `${window.location.pathname}?${q.toString()}`;
    if (url !== window.location.pathname + window.location.search) window.history.replaceState(window.history.state, "", url);
  }

  /* A 28x28 image in [0, 1] as 16 grey levels, two pixels a byte, in URL-safe base64 (523 characters). */
  const SIDE = 28, LEVELS = 15;
  function packDrawing(img) {
    const bytes = new Uint8Array((SIDE * SIDE) / 2);
    const q = (i) => Math.max(0, Math.min(LEVELS, Math.round(img[Math.floor(i / SIDE)][i % SIDE] * LEVELS)));
    for (let b = 0; b < bytes.length; b++) bytes[b] = (q(2 * b) << 4) | q(2 * b + 1);
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  /* packDrawing's inverse; null for text that is not one. */
  function unpackDrawing(text) {
    let raw;
    try {
      raw = atob(String(text || "").replace(/-/g, "+").replace(/_/g, "/"));
    } catch (e) {
      return null;
    }
    if (raw.length !== (SIDE * SIDE) / 2) return null;
    const img = [...Array(SIDE)].map(() => new Array(SIDE).fill(0));
    for (let b = 0; b < raw.length; b++) {
      const v = raw.charCodeAt(b);
      img[Math.floor((2 * b) / SIDE)][(2 * b) % SIDE] = (v >> 4) / LEVELS;
      img[Math.floor((2 * b + 1) / SIDE)][(2 * b + 1) % SIDE] = (v & 15) / LEVELS;
    }
    return img;
  }

  /* Interventions in the URL: "unit:value:from-to" joined by ","; bad entries are dropped. */
  function formatInterventions(ivs) {
    return (ivs || []).map((v) => `${v.unit}:${+v.value.toFixed(4)}:${v.from_iteration}-${v.to_iteration}`).join(",");
  }
  function parseInterventions(text) {
    const out = [];
    for (const part of String(text || "").split(",")) {
      const m = part.trim().match(/^(\d+):([0-9.eE+-]+):(\d+)-(\d+)$/);
      if (!m) continue;
      const v = { unit: +m[1], value: +m[2], from_iteration: +m[3], to_iteration: +m[4] };
      if (Number.isFinite(v.value) && v.value >= 0) out.push(v);
    }
    return out;
  }

  /* Whether the figure templates of the model shown are drawn: a heat-map row per unit, and a pair of
   * probability traces per class (its run and the run before the interventions). */
  function templatesDrawn(u) {
    const h = gd(I.HEATMAP), p = gd(I.PROBS);
    const heat = h && h.data && h.data[0];
    return !!(heat && heat.type === "heatmap" && heat.y && heat.y.length === u.order.length
      && p && p.data && p.data.length === 2 * u.class_names.length);
  }

  /* Call fn once the model's templates are drawn: at once, or when Plotly has drawn them (the units and the
   * templates arrive together, and Dash hands the figures to Plotly after this file has the units). Plotly
   * changes the views' DOM as it draws; a later call replaces a waiting one. */
  let waiting = null;
  function whenTemplatesDrawn(u, fn) {
    if (waiting) waiting.disconnect();
    waiting = null;
    if (templatesDrawn(u)) return fn();
    waiting = new MutationObserver(() => {
      if (!templatesDrawn(u)) return;
      waiting.disconnect();
      waiting = null;
      fn();
    });
    waiting.observe(document.querySelector(".views-grid") || document.body, { childList: true, subtree: true, attributes: true });
  }

  /* Put a new encode result into the figure templates, then animate from t = 1. */
  function applyEncoding(enc, opts) {
    const u = S.units;
    if (!u || enc.model_id !== u.model_id) return;
    const h = gd(I.HEATMAP), c = gd(I.CURVES), p = gd(I.PROBS);
    S.enc = enc;
    S.T = enc.iterations;
    loadingModel = null;
    busy("");
    // The reconstruction is of the L2-normalised input: scale every t by the final one's peak, so
    // the picture builds up over t like the activity does.
    let mx = 0;
    if (enc.reconstructions) for (const row of enc.reconstructions[enc.iterations - 1]) for (const v of row) mx = Math.max(mx, v);
    inputMax = mx || 1;
    const T = enc.iterations;
    // Heat map first (rows in units.order, columns t): it and the reconstruction make the first frame.
    const zRows = u.order.map((k) => enc.z.map((zt) => zt[k]));
    let zmax = 0;
    for (const zt of enc.z) for (const v of zt) if (v > zmax) zmax = v;
    zmax = zmax > 0 ? zmax : 1;
    if (S.fixedScale) zmax = S.fixedScale;
    window.Plotly.restyle(h, { z: [zRows], zmin: 0, zmax }, [0]);
    const zl = document.getElementById(I.HEATMAP_ZMAX);
    if (zl) zl.textContent = zmax.toPrecision(2);
    // The line charts follow on the next animation frames, one per frame, so no frame waits for all
    // three restyles (each costs 50-80 ms on this machine's software-rendered Chromium).
    const seq = encodeSeq;
    const later = [];
    if (c && c.data && c.data.length === u.curve_groups.length + 1 && u.curve_groups.length) {
      later.push(() => {
        // One trace per class: each unit's T values then a gap (app/figures.py: curves_figure).
        const ys = u.curve_groups.map((g) => {
          const y = [];
          for (const k of g.units) {
            for (let t = 0; t < T; t++) y.push(enc.z[t][k]);
            y.push(null);
          }
          return y;
        });
        ys.push(new Array(T).fill(null));
        window.Plotly.restyle(c, { y: ys }, [...Array(ys.length).keys()]);
      });
    }
    later.push(() => {
      const n = u.class_names.length, probs = [];
      for (let k = 0; k < n; k++) probs.push(enc.probabilities.map((pt) => pt[k]));
      // Traces n..2n-1: the run before the interventions (app/figures.py: probabilities_figure).
      const base = enc.interventions.length && S.base !== enc ? S.base : null;
      for (let k = 0; k < n; k++) probs.push(base ? base.probabilities.map((pt) => pt[k]) : new Array(T).fill(null));
      window.Plotly.restyle(p, { y: probs }, [...Array(probs.length).keys()].filter((i) => i < p.data.length));
      placeDecision();
      S.perf.allViews = performance.now();
      if (S.perf.strokeEnd !== null) S.perf.allViewsLatencies.push(S.perf.allViews - S.perf.strokeEnd);
    });
    const runLater = () => {
      if (seq !== encodeSeq || !later.length) return;
      later.shift()();
      requestAnimationFrame(() => setTimeout(runLater, 0));
    };
    requestAnimationFrame(() => setTimeout(runLater, 0));
    drawGrid(I.INPUT_CANVAS, enc.input);
    const pred = document.getElementById(I.PREDICTION);
    const predText = outName(enc, enc.prediction);
    if (pred) {
      pred.textContent = predText;
      pred.classList.toggle("prediction-long", predText.length > 2); // "Ankle boot" must fit the box
    }
    setProps(I.PREDICTION, { children: predText });
    const again = document.getElementById(I.PLAYER_PREDICTION);
    if (again) again.textContent = predText;
    const cap = document.getElementById(I.DIGIT_CAPTION);
    let label = S.source && S.source.kind === "digit" && enc.source ? sourceCaption(enc)
      : S.source && S.source.kind === "upload" ? "your PNG"
        : S.source && S.source.shared ? "a drawing from a link (as the model saw it, in 16 grey levels)" : "your drawing";
    if (enc.interventions.length && S.base && S.base !== enc) label += ` · before the interventions: ${outName(enc, S.base.prediction)}`;
    if (cap) cap.textContent = label;
    shownT = null;
    syncUrl(); // the URL names the new input now, not when playback ends
    if (opts.initialT) {
      pause();
      renderFrame(Math.min(T, opts.initialT));
    } else {
      play(true);
    }
  }

  /* A stored input's caption, in its own dataset's names; one from another dataset than the model's says so
   * (its label is not one of the model's classes). */
  function sourceCaption(enc) {
    const src = enc.source;
    const own = `test ${src.item_noun} ${src.index}, true label ${src.label_name}`;
    if (src.dataset === enc.dataset) return own;
    const modelTitle = (S.units && S.units.dataset_title) || enc.dataset;
    return `${src.title} ${own} · not from ${modelTitle}, the dataset this model was trained on`;
  }

  /* Encode one input ({image} or a stored digit {dataset, split, index}) with the current interventions.
   * One request of the model shown per input: its answer carries what every view needs (the unit card's
   * drives, the prototype split, and under interventions the run without them). A compared model is another
   * model, so it costs one request of its own (static/steer.js: compare.encode). */
  async function encode(input, preprocess, opts) {
    const u = S.units;
    if (!u) return;
    const seq = ++encodeSeq;
    S.current = { input, preprocess };
    busy(loadingModel ? `Loading model ${loadingModel}` : "Encoding");
    const body = { ...input, preprocess, reconstructions: true, decompose: true, split_reconstruction: true,
      interventions: S.interventions.slice(), baseline: true };
    let r;
    try {
      r = await D.api.encode(u.model_id, body);
    } catch (e) {
      busy("");
      return status(`Could not reach the API: ${e}`);
    }
    if (seq !== encodeSeq) return; // a newer request was made meanwhile
    if (!r.ok) {
      busy("");
      return status(`Encode failed: ${r.detail}`);
    }
    const enc = r.data;
    if (S.perf.strokeEnd !== null && S.perf.firstFrame === null) S.perf.apiMs.push(performance.now() - S.perf.strokeEnd);
    status("");
    whenTemplatesDrawn(u, () => {
      if (seq !== encodeSeq) return;
      S.base = enc.baseline || enc;
      partsT = null;
      applyEncoding(enc, opts || {});
    });
    if (D.compare) D.compare.encode();
  }

  /* What the page waits for (a model's units, an encode), in the player; "" when nothing. */
  function busy(msg) {
    const el = document.getElementById(I.BUSY);
    if (el) el.textContent = msg ? `${msg}…` : "";
    const views = document.querySelector(".col-views");
    if (views) views.setAttribute("aria-busy", msg ? "true" : "false");
  }

  /* The status line under the gallery: this file clears only its own messages, never another's
   * (e.g. the "random misclassified" line that names the digit being loaded). */
  function status(msg) {
    const el = document.getElementById(I.STATUS);
    if (!el) return;
    if (msg) { el.textContent = msg; statusOwn = true; }
    else if (statusOwn) { el.textContent = ""; statusOwn = false; }
  }

  /* Encode the current input again (interventions or the scale changed). */
  function rerun() {
    if (!S.current) return;
    encode(S.current.input, S.current.preprocess, { initialT: Math.round(S.t) || S.T });
  }

  Object.assign(D, {
    renderFrame, play, pause, step, encode, highlightUnit, rerun, syncUrl, status, drawGrid, placeOverlays,
    formatInterventions, parseInterventions, packDrawing, unpackDrawing, colorOf, nameOf, outName,
    /* Replace the interventions and re-run the current input. */
    setInterventions(ivs) {
      S.interventions = ivs.slice();
      syncUrl();
      rerun();
    },
    /* A PNG file (dropped or chosen): encoded with MNIST-style centring like a drawing. */
    encodeUpload(dataUrl) {
      S.source = { kind: "upload" };
      if (D.canvas) D.canvas.clear(false);
      return encode({ image: dataUrl }, "center", {});
    },
    /* Called by static/canvas.js when a stroke ends (image: PNG data URL of the drawing). */
    encodeDrawing(dataUrl) {
      S.source = { kind: "drawn" };
      return encode({ image: dataUrl }, "center", {});
    },
    clearViews() {
      encodeSeq++;
      pause();
      S.source = null; // nothing shown: the URL names no input
      S.current = null;
      syncUrl();
      for (const id of [I.PREDICTION, I.PLAYER_PREDICTION]) {
        const pred = document.getElementById(id);
        if (pred) pred.textContent = "–";
      }
      const cap = document.getElementById(I.DIGIT_CAPTION);
      if (cap) cap.textContent = "draw a digit";
    },
  });

  /* A gallery or URL digit is encoded by reference: the server reads its pixels (docs/api.md). */
  const digitInput = (d) => ({ dataset: d.dataset, split: "test", index: d.index });

  Object.assign(D, {
    /* Inputs: digit-store data, units-store data; State: encode-store data ({initial_t, iv}). No output. */
    onData(digit, units, encStore) {
      const trig = (ns.callback_context.triggered || []).map((t) => t.prop_id);
      if (units) S.units = units;
      else {
        if (trig.some((p) => p.startsWith(`${I.UNITS_STORE}.`))) { loadingModel = null; busy(""); } // not loaded
        return;
      }
      const newDigit = trig.some((p) => p.startsWith(`${I.DIGIT_STORE}.`)) && digit;
      const initialT = S.initialT === null && encStore && encStore.initial_t ? encStore.initial_t : null;
      if (S.initialT === null && encStore) S.interventions = parseInterventions(encStore.iv);
      if (trig.some((p) => p.startsWith(`${I.UNITS_STORE}.`)) && S.enc && S.enc.model_id !== units.model_id) {
        S.interventions = []; // unit numbers belong to the model they were chosen on
      }
      if (newDigit) {
        S.source = { kind: "digit", ref: digit.ref, dataset: digit.dataset, index: digit.index };
        if (D.canvas) D.canvas.clear(false);
      }
      if (S.initialT === null && encStore && encStore.draw && !S.source) {
        // a shared link's drawing: the 28x28 image the model saw, encoded as it is
        const img = unpackDrawing(encStore.draw);
        if (img) {
          S.source = { kind: "drawn", shared: true };
          S.current = { input: { image: img }, preprocess: "none" };
        } else {
          status("The drawing in this link cannot be read: draw one or pick a test digit.");
        }
      }
      S.initialT = S.initialT === null ? initialT || 0 : S.initialT;
      if (S.source && S.source.kind !== "digit" && S.current) {
        encode(S.current.input, S.current.preprocess, { initialT }); // a drawing or an upload, on this model
      } else if (S.source && S.source.kind === "digit") {
        encode(digitInput(S.source), "none", { initialT });
      } else if (digit) {
        S.source = { kind: "digit", ref: digit.ref, dataset: digit.dataset, index: digit.index };
        encode(digitInput(S.source), "none", { initialT });
      }
    },
    /* The model picker changed: the page waits for that model's units and first encode. No output. */
    onModelPick(value) {
      if (!value || (S.units && S.units.model_id === value)) return;
      loadingModel = value;
      busy(`Loading model ${value}`);
    },
    /* The slider moved: if the user did it, pause and show that iteration. No output. */
    onSlider(value) {
      if (value === sliderEcho) return;
      if (S.enc && value) {
        pause();
        renderFrame(value);
      }
    },
    /* Header: keep the model in the navigation links and show a one-line summary of it. */
    navLinks(model, models) {
      const q = model ? `?model=${encodeURIComponent(model)}` : "";
      let info = "";
      const m = (models || []).find((x) => x.id === model);
      if (m) {
        const err = m.test_error !== null && m.test_error !== undefined ? ` · test error ${m.test_error.toFixed(2)}%` : "";
        const roles = m.roles ? ` · ${m.roles.part} part / ${m.roles.categorical} categorical units` : "";
        const paper = m.shows_paper_structure ? " · ★ shows the paper's structure" : m.roles ? " · no part/categorical split" : "";
        info = `${m.dataset} · ${m.hidden_units} units · T = ${m.iterations}${err}${roles}${paper}`;
      }
      if (model && window.location.pathname !== "/") {
        const qs = new URLSearchParams(window.location.search);
        if (qs.get("model") !== model) {
          qs.set("model", model);
          window.history.replaceState(window.history.state, "", `${window.location.pathname}?${qs}`);
        }
      }
      return ["/" + q, "/units" + q, "/training" + q, "/evaluation" + q, info];
    },
  });

  S.on({ fixedScale: () => S.enc && rerun() }); // the heat map's scale is set on each encode

  /* Player buttons (delegated: the page mounts after this script runs). */
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest && ev.target.closest("button");
    if (!b) return;
    if (b.id === I.PLAY_BUTTON) S.playing ? pause() : play(false);
    else if (b.id === I.STEP_BUTTON) step(1);
    else if (b.id === I.STEP_BACK_BUTTON) step(-1);
  });
  /* The header's height as --topbar-h: the player sticks just under it (static/style.css). Dash mounts the
   * header after this script runs: follow it from when it appears. */
  function trackHeader(bar) {
    new ResizeObserver(() => document.documentElement.style.setProperty("--topbar-h", `${bar.offsetHeight}px`)).observe(bar);
  }
  const mounted = new MutationObserver(() => {
    const bar = document.querySelector(".topbar");
    if (!bar) return;
    mounted.disconnect();
    trackHeader(bar);
  });
  mounted.observe(document.documentElement, { childList: true, subtree: true });
  let resizeQueued = false;
  window.addEventListener("resize", () => {
    if (resizeQueued || !S.enc) return;
    resizeQueued = true;
    // Plotly resizes responsive graphs on the same event: place the overlays after it has.
    setTimeout(() => { resizeQueued = false; renderFrame(S.t); }, 150);
  });
  document.addEventListener("keydown", (ev) => {
    if (!S.enc || !ev.target.closest || ev.target.closest("input, textarea, [role=slider], [role=combobox], .dash-dropdown")) return;
    if (ev.key === " " && ev.target === document.body) { ev.preventDefault(); S.playing ? pause() : play(false); }
    if (ev.key === "ArrowRight") step(1);
    if (ev.key === "ArrowLeft") step(-1);
  });
})();
