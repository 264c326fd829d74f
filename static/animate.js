/* DrSAE Explorer: encode + animate the dynamics views in the browser (no server round trip per frame).
 *
 * One POST /api/models/{id}/encode returns every iteration t = 1..T (z, probabilities, reconstructions).
 * The figures arrive from Python (app/figures.py) as templates: this file restyles their data once per
 * digit, then each frame only moves shapes 0 and 1 (the current-t markers) and repaints the
 * reconstruction canvas, interpolating between iterations so playback is smooth.
 * Contract with app/figures.py: heat-map row i is units.order[i]; curves trace i is units.curve_units[i].
 */
(function () {
  "use strict";
  const S = (window.drsaeState = window.drsaeState || {
    units: null, // slim units payload (app/callbacks/dynamics.py: slim_units)
    enc: null, // latest encode result
    t: 11, // current (fractional) iteration
    T: 11,
    playing: false,
    raf: 0,
    seq: 0, // encode request counter: late answers to old requests are dropped
    source: null, // {kind: "digit", ref, image} | {kind: "drawn"}
    initialT: null,
    sliderEcho: null,
    perf: { strokeEnd: null, firstFrame: null, latencies: [], frameTimes: [] },
  });
  const SPEED = 4; // iterations per second while playing
  const ns = (window.dash_clientside = window.dash_clientside || {});
  const noUpdate = () => ns.no_update;

  function gd(id) {
    const el = document.getElementById(id);
    return el ? el.querySelector(".js-plotly-plot") : null;
  }
  function setProps(id, props) {
    if (ns.set_props) ns.set_props(id, props);
  }

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
    const scale = S.inputMax || 1;
    const img = r[a].map((row, y) =>
      row.map((v, x) => (((1 - f) * v + f * r[b][y][x]) / scale)));
    drawGrid("recon-canvas", img);
  }

  /* Move the current-t markers: a band on the heat map, fog + line on the line charts. */
  function renderFrame(tf) {
    const t0 = performance.now();
    const T = S.T;
    tf = Math.max(1, Math.min(T, tf));
    S.t = tf;
    const h = gd("heatmap-graph");
    if (h && h.layout && h.layout.shapes && h.layout.shapes.length > 1) {
      window.Plotly.relayout(h, { "shapes[0].x0": tf - 0.5, "shapes[0].x1": tf + 0.5 });
    }
    for (const id of ["curves-graph", "probs-graph"]) {
      const g = gd(id);
      if (g && g.layout && g.layout.shapes && g.layout.shapes.length > 1) {
        window.Plotly.relayout(g, {
          "shapes[0].x0": tf, "shapes[1].x0": tf, "shapes[1].x1": tf,
        });
      }
    }
    drawRecon(tf);
    const ti = Math.round(tf);
    if (ti !== S.shownT) {
      S.shownT = ti;
      const label = document.getElementById("iteration-label");
      if (label) label.textContent = `t = ${ti} / ${T}`;
      if (S.enc) {
        const p = S.enc.probabilities[ti - 1];
        let best = 0;
        for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
        const el = document.getElementById("prob-at-t");
        if (el) el.textContent = `at t = ${ti}: class ${best} with p = ${(p[best] * 100).toFixed(1)}%`;
      }
      S.sliderEcho = ti;
      setProps("iteration-slider", { value: ti });
      syncUrl();
    }
    const views = document.querySelector(".views-grid");
    if (views) views.dataset.frame = tf.toFixed(3);
    if (S.perf.strokeEnd !== null && S.perf.firstFrame === null) {
      S.perf.firstFrame = performance.now();
      S.perf.latencies.push(S.perf.firstFrame - S.perf.strokeEnd);
    }
    S.perf.lastRender = performance.now() - t0;
  }

  function setPlayLabel() {
    const b = document.getElementById("play-button");
    if (b) {
      b.textContent = S.playing ? "❚❚ Pause" : "▶ Play";
      b.setAttribute("aria-pressed", S.playing ? "true" : "false");
    }
  }

  function play(fromStart) {
    if (!S.enc) return;
    if (fromStart || S.t >= S.T) S.t = 1;
    S.playing = true;
    setPlayLabel();
    let last = performance.now();
    const tick = (now) => {
      if (!S.playing) return;
      S.perf.frameTimes.push(now);
      if (S.perf.frameTimes.length > 600) S.perf.frameTimes.shift();
      const dt = (now - last) / 1000;
      last = now;
      const next = Math.min(S.T, S.t + dt * SPEED);
      renderFrame(next);
      if (next >= S.T) return pause();
      S.raf = requestAnimationFrame(tick);
    };
    renderFrame(S.t);
    S.raf = requestAnimationFrame(tick);
  }

  function pause() {
    S.playing = false;
    cancelAnimationFrame(S.raf);
    setPlayLabel();
    syncUrl();
  }

  function step(delta) {
    pause();
    renderFrame(Math.round(S.t) + delta);
  }

  /* Page state (model, digit, t) in the URL, without a navigation. */
  function syncUrl() {
    if (window.location.pathname !== "/") return;
    const q = new URLSearchParams(window.location.search);
    if (S.units) q.set("model", S.units.model_id);
    if (S.source && S.source.kind === "digit") q.set("digit", S.source.ref);
    else q.delete("digit");
    if (!S.playing && S.enc) q.set("t", String(Math.round(S.t)));
    const url = `${window.location.pathname}?${q.toString()}`;
    if (url !== window.location.pathname + window.location.search) window.history.replaceState(window.history.state, "", url);
  }

  /* Put a new encode result into the figure templates, then animate from t = 1. */
  function applyEncoding(enc, opts) {
    const u = S.units;
    if (!u || enc.model_id !== u.model_id) return;
    const h = gd("heatmap-graph"), c = gd("curves-graph"), p = gd("probs-graph");
    const ready = h && h.data && h.data[0] && h.data[0].type === "heatmap" && p && p.data && p.data.length === 10;
    if (!ready) {
      // The templates for this model are still being drawn: try again shortly.
      opts.tries = (opts.tries || 0) + 1;
      if (opts.tries < 100) setTimeout(() => applyEncoding(enc, opts), 20);
      return;
    }
    S.enc = enc;
    S.T = enc.iterations;
    // The reconstruction is of the L2-normalised input: scale every t by the final one's peak, so
    // the picture builds up over t like the activity does.
    let mx = 0;
    if (enc.reconstructions) for (const row of enc.reconstructions[enc.iterations - 1]) for (const v of row) mx = Math.max(mx, v);
    S.inputMax = mx || 1;
    const T = enc.iterations;
    // Heat map: rows in units.order, columns t.
    const zRows = u.order.map((k) => enc.z.map((zt) => zt[k]));
    window.Plotly.restyle(h, { z: [zRows] }, [0]);
    if (c && c.data && c.data.length === u.curve_units.length && u.curve_units.length) {
      window.Plotly.restyle(c, { y: u.curve_units.map((k) => enc.z.map((zt) => zt[k])) },
        u.curve_units.map((_, i) => i));
    }
    const probs = [];
    for (let k = 0; k < 10; k++) probs.push(enc.probabilities.map((pt) => pt[k]));
    window.Plotly.restyle(p, { y: probs }, [...Array(10).keys()]);
    drawGrid("input-canvas", enc.input);
    const pred = document.getElementById("prediction");
    if (pred) pred.textContent = String(enc.prediction);
    setProps("prediction", { children: String(enc.prediction) });
    const cap = document.getElementById("digit-caption");
    const label = S.source && S.source.kind === "digit" && S.source.label !== undefined
      ? `test digit ${S.source.index}, true label ${S.source.label}` : "your drawing";
    if (cap) cap.textContent = label;
    S.shownT = null;
    if (opts.initialT) {
      pause();
      renderFrame(Math.min(T, opts.initialT));
    } else {
      play(true);
    }
  }

  async function encode(image, preprocess, opts) {
    const u = S.units;
    if (!u) return;
    const seq = ++S.seq;
    let res;
    try {
      res = await fetch(`/api/models/${encodeURIComponent(u.model_id)}/encode`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ image, preprocess, reconstructions: true }),
      });
    } catch (e) {
      return status(`Could not reach the API: ${e}`);
    }
    if (seq !== S.seq) return; // a newer request was made meanwhile
    if (!res.ok) {
      let detail = res.statusText;
      try { detail = (await res.json()).detail; } catch (e) { /* not JSON */ }
      return status(`Encode failed: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    }
    const enc = await res.json();
    if (seq !== S.seq) return;
    status("");
    applyEncoding(enc, opts || {});
  }

  function status(msg) {
    const el = document.getElementById("dynamics-status");
    if (el) el.textContent = msg;
  }

  const api = {
    state: S,
    renderFrame, play, pause, step, encode,
    /* Called by static/canvas.js when a stroke ends (image: PNG data URL of the drawing). */
    encodeDrawing(dataUrl) {
      S.source = { kind: "drawn" };
      S.drawing = dataUrl;
      setProps("digit-ref", { data: "drawn" });
      return encode(dataUrl, "center", {});
    },
    clearViews() {
      S.seq++;
      pause();
      S.drawing = null;
      const pred = document.getElementById("prediction");
      if (pred) pred.textContent = "–";
      const cap = document.getElementById("digit-caption");
      if (cap) cap.textContent = "draw a digit";
    },
  };
  window.drsae = api;

  ns.drsae = Object.assign(ns.drsae || {}, {
    /* Inputs: digit-store data, units-store data; State: encode-store data ({initial_t}). */
    onData(digit, units, encStore) {
      const trig = (ns.callback_context.triggered || []).map((t) => t.prop_id);
      if (units) S.units = units;
      else return noUpdate();
      const newDigit = trig.some((p) => p.startsWith("digit-store")) && digit;
      const initialT = S.initialT === null && encStore && encStore.initial_t ? encStore.initial_t : null;
      if (newDigit) {
        S.source = { kind: "digit", ref: digit.ref, index: digit.index, label: digit.label, image: digit.image };
        if (window.drsaeCanvas) window.drsaeCanvas.clear(false);
      }
      S.initialT = S.initialT === null ? initialT || 0 : S.initialT;
      if (S.source && S.source.kind === "drawn" && S.drawing) {
        encode(S.drawing, "center", {});
      } else if (S.source && S.source.kind === "digit") {
        encode(S.source.image, "none", { initialT });
      } else if (digit) {
        S.source = { kind: "digit", ref: digit.ref, index: digit.index, label: digit.label, image: digit.image };
        encode(digit.image, "none", { initialT });
      }
      return noUpdate();
    },
    /* The slider moved: if the user did it, pause and show that iteration. */
    onSlider(value) {
      if (value === S.sliderEcho) return noUpdate();
      if (S.enc && value) {
        pause();
        renderFrame(value);
      }
      return noUpdate();
    },
    /* Hover in the heat map (customdata = unit index) or curves (customdata per point). */
    onHoverUnit(heatHover, curveHover) {
      const trig = (ns.callback_context.triggered || [])[0];
      const hover = trig && trig.prop_id.startsWith("curves") ? curveHover : heatHover;
      const pt = hover && hover.points && hover.points[0];
      if (!pt || !S.units) return [noUpdate(), noUpdate(), noUpdate()];
      const k = Array.isArray(pt.customdata) ? pt.customdata[0] : pt.customdata;
      const u = S.units.units[String(k)];
      if (!u) return [noUpdate(), noUpdate(), noUpdate()];
      const cls = u.role === "part" ? "" : `, class ${u["class"]}`;
      const text = `unit ${u.index}: ${u.role}${cls} · angle ${u.angle.toFixed(2)} rad · ||C_i|| ${u.c_norm.toFixed(2)}`;
      const href = `/units?model=${encodeURIComponent(S.units.model_id)}&unit=${u.index}`;
      return [u.decoder_png, text, href];
    },
    /* Header: keep the model in the navigation links and show a one-line summary of it. */
    navLinks(model, models) {
      const q = model ? `?model=${encodeURIComponent(model)}` : "";
      let info = "";
      const m = (models || []).find((x) => x.id === model);
      if (m) {
        const err = m.test_error !== null && m.test_error !== undefined ? ` · test error ${m.test_error.toFixed(2)}%` : "";
        info = `${m.dataset} · ${m.hidden_units} units · T = ${m.iterations}${err}`;
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

  /* Player buttons (delegated: the page mounts after this script runs). */
  document.addEventListener("click", (ev) => {
    const b = ev.target.closest && ev.target.closest("button");
    if (!b) return;
    if (b.id === "play-button") S.playing ? pause() : play(false);
    else if (b.id === "step-button") step(1);
    else if (b.id === "step-back-button") step(-1);
  });
  document.addEventListener("keydown", (ev) => {
    if (!S.enc || !ev.target.closest || ev.target.closest("input, textarea, [role=slider], [role=combobox], .dash-dropdown")) return;
    if (ev.key === " " && ev.target === document.body) { ev.preventDefault(); S.playing ? pause() : play(false); }
    if (ev.key === "ArrowRight") step(1);
    if (ev.key === "ArrowLeft") step(-1);
  });
})();
