/* DrSAE Explorer: the drawing canvas (ids.DRAW_CANVAS) with Pointer Events (mouse, pen and touch).
 *
 * Strokes are kept as point lists so Undo can redraw all but the last. When a stroke ends, the canvas
 * (white ink on opaque black, 280x280) goes to the API as a PNG data URL with preprocess "center": the
 * server does the MNIST-style centring. Listeners sit on `document` because Dash mounts
 * the page after this script runs.
 */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  const I = D.ids;
  const strokes = []; // [{width, points: [[x, y], ...]}] in canvas pixels
  let current = null;

  const canvas = () => document.getElementById(I.DRAW_CANVAS);

  function penWidth() {
    const el = document.getElementById(I.PEN_SIZE);
    const v = el ? Number(el.value) : 20;
    return Number.isFinite(v) && v > 0 ? v : 20;
  }

  function toCanvas(c, ev) {
    const r = c.getBoundingClientRect();
    return [((ev.clientX - r.left) * c.width) / r.width, ((ev.clientY - r.top) * c.height) / r.height];
  }

  function paintBackground(ctx, c) {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, c.width, c.height);
  }

  function drawStroke(ctx, s) {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = s.width;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    const p = s.points;
    if (p.length === 1) {
      ctx.beginPath();
      ctx.arc(p[0][0], p[0][1], s.width / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(p[0][0], p[0][1]);
    for (let i = 1; i < p.length; i++) ctx.lineTo(p[i][0], p[i][1]);
    ctx.stroke();
  }

  function redraw() {
    const c = canvas();
    if (!c) return;
    const ctx = c.getContext("2d");
    paintBackground(ctx, c);
    for (const s of strokes) drawStroke(ctx, s);
  }

  function submit() {
    const c = canvas();
    if (!c || !D.encodeDrawing) return;
    if (!strokes.length) return D.clearViews();
    D.state.perf.strokeEnd = performance.now();
    D.state.perf.firstFrame = null;
    D.encodeDrawing(c.toDataURL("image/png"));
  }

  function clear(notify) {
    strokes.length = 0;
    current = null;
    redraw();
    if (notify !== false && D.clearViews) D.clearViews();
  }

  document.addEventListener("pointerdown", (ev) => {
    const c = canvas();
    if (!c || ev.target !== c) return;
    ev.preventDefault();
    try {
      c.setPointerCapture(ev.pointerId); // keep the stroke when the finger leaves the canvas
    } catch (e) {
      /* synthetic or already-released pointer: drawing works without capture */
    }
    if (!strokes.length) redraw(); // a loaded test digit is not on the canvas: start from black
    current = { width: penWidth(), points: [toCanvas(c, ev)], pointerId: ev.pointerId };
    strokes.push(current);
    drawStroke(c.getContext("2d"), current);
  });

  document.addEventListener("pointermove", (ev) => {
    const c = canvas();
    if (!current || !c || ev.pointerId !== current.pointerId) return;
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
    const ctx = c.getContext("2d");
    for (const e of events.length ? events : [ev]) {
      const prev = current.points[current.points.length - 1];
      const pt = toCanvas(c, e);
      current.points.push(pt);
      drawStroke(ctx, { width: current.width, points: [prev, pt] });
    }
  });

  function end(ev) {
    if (!current || ev.pointerId !== current.pointerId) return;
    current = null;
    submit();
  }
  document.addEventListener("pointerup", end);
  document.addEventListener("pointercancel", end);

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest && ev.target.closest("button");
    if (!b) return;
    if (b.id === I.CLEAR_BUTTON) clear(true);
    else if (b.id === I.UNDO_BUTTON) {
      strokes.pop();
      redraw();
      submit();
    }
  });

  // Paint the black background as soon as the canvas is mounted.
  new MutationObserver(() => {
    const c = canvas();
    if (c && !c.dataset.ready) {
      c.dataset.ready = "1";
      redraw();
    }
  }).observe(document.documentElement, { childList: true, subtree: true });

  D.canvas = { clear, strokes };
})();
