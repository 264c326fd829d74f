/* DrSAE Explorer, training page: follow active jobs on the API's server-sent event stream
 * (GET /api/jobs/{id}/events, opened by static/api.js) instead of polling.
 *
 * Each `metrics` event is one epoch row, and it travels once: it extends the plotted job's curves in the
 * browser (Plotly.extendTraces on the traces whose meta names the job and the row key) and updates that
 * job's entry in the job-list store (epoch, progress, latest row), so its row in the list moves without a
 * request. Only when the curves cannot be extended (none drawn yet, or the switch to discriminative
 * training to mark) does it ask Dash to draw them again from the API (curves-refresh). A `status` event
 * refreshes the list (the status changed), and a final status closes the stream (else EventSource would
 * reconnect and replay it).
 */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  const I = D.ids;
  // A job says whether it is active (queued or running) or final, and since when it runs (`started`, null while
  // it waits): the status names belong to the API (server/lifecycle.py), not to this file.
  const running = (j) => j.active && j.started !== null;
  const MAX_STREAMS = 4; // a browser opens at most 6 connections to one host
  const LIST_EVERY_MS = 1000; // the list store is written at most this often (each write runs its callbacks)
  const CURVES = [I.TRAINING_CURVES, I.ROLE_CURVES];
  const streams = new Map(); // job id -> EventSource
  let jobs = []; // the job list as last given to followJobs
  let plotted = null; // the job whose curves are drawn
  let refreshQueued = false;
  let listQueued = false;
  let awaiting = 0; // when the list store was last written, until the list is redrawn
  let watched = null; // the job-list element observed for redraws
  const SETTLE_MS = 5000;
  const DRAW_EVERY_MS = 250; // rows arriving within this are drawn together (a smoke job sends several a second)
  const pending = new Map(); // job id -> its rows not drawn yet

  function setProps(id, props) {
    if (ns.set_props) ns.set_props(id, props);
  }

  /* Ask the job list again (one request for a burst of status events, not one per event). */
  function refreshList() {
    if (refreshQueued) return;
    refreshQueued = true;
    setTimeout(() => {
      refreshQueued = false;
      setProps(I.JOBS_REFRESH, { data: Date.now() });
    }, 250);
  }

  /* The new row into the job's entry of the list store: its row in the list follows (one store write per
   * burst of rows, at most one a second). */
  function updateList(jobId, row) {
    const job = jobs.find((j) => j.id === jobId);
    if (!job || (job.epoch || 0) > row.epoch) return;
    job.epoch = row.epoch;
    job.latest = row;
    job.progress = job.total_epochs ? Math.min(1, row.epoch / job.total_epochs) : 0;
    if (row.val_error !== null && row.val_error !== undefined) job.last_val_error = row.val_error;
    if (listQueued) return;
    listQueued = true;
    const write = () => {
      // Dash drops a callback's answer when its input changes again meanwhile: wait until the list has been
      // redrawn from the previous write (or SETTLE_MS passed), so that a busy server still shows progress
      if (awaiting && Date.now() - awaiting < SETTLE_MS) {
        setTimeout(write, 250);
        return;
      }
      listQueued = false;
      jobs = jobs.map((j) => Object.assign({}, j));
      awaiting = Date.now();
      setProps(I.JOBS_STORE, { data: jobs });
    };
    setTimeout(write, LIST_EVERY_MS);
  }

  /* Any redraw of the job list means the last list write has been answered. */
  function watchList() {
    const list = document.getElementById(I.JOBS_TABLE);
    if (!list || list === watched) return;
    watched = list;
    new MutationObserver(() => {
      awaiting = 0;
    }).observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
  }

  function graphDiv(id) {
    const root = document.getElementById(id);
    return root && root.querySelector(".js-plotly-plot");
  }

  /* Extend the drawn curves of the job with new rows; false when they cannot be (not drawn, or a row starts
   * the discriminative phase, whose switch the figure marks). The epoch ticks widen by the figure's own rule
   * (layout.meta.epoch_ticks, app/figures.py) as the curves grow. */
  function extendCurves(jobId, rows) {
    let extended = false;
    for (const id of CURVES) {
      const gd = graphDiv(id);
      if (!gd || !gd.data) continue;
      const traces = gd.data.map((tr, i) => [tr, i]).filter(([tr]) => tr.meta && tr.meta.job === jobId && tr.meta.key);
      if (!traces.length) continue;
      const last = Math.max(...traces.map(([tr]) => (tr.x && tr.x.length ? tr.x[tr.x.length - 1] : -Infinity)));
      const fresh = rows.filter((r) => r.epoch > last); // a replayed row is already drawn
      extended = true;
      if (!fresh.length) continue;
      const meta = (gd.layout && gd.layout.meta) || {};
      if (meta.phase && fresh.some((r) => r.phase !== meta.phase)) return false;
      const xs = traces.map(() => fresh.map((r) => r.epoch));
      const ys = traces.map(([tr]) => fresh.map((r) => (r[tr.meta.key] === undefined ? null : r[tr.meta.key])));
      window.Plotly.extendTraces(gd, { x: xs, y: ys }, traces.map(([, i]) => i));
      if (meta.epoch_ticks) widenTicks(gd, Math.max(...traces.map(([tr]) => tr.x.length)), meta.epoch_ticks);
    }
    return extended;
  }

  /* app/figures.py epoch_dtick, applied to a figure that grew: whole epochs, at most `ticks` of them. */
  function widenTicks(gd, points, ticks) {
    const dtick = Math.max(1, Math.ceil(points / ticks));
    const axes = Object.keys(gd.layout).filter((k) => /^xaxis\d*$/.test(k) && gd.layout[k].dtick < dtick);
    if (axes.length) window.Plotly.relayout(gd, Object.fromEntries(axes.map((k) => [`${k}.dtick`, dtick])));
  }

  /* The plotted job's rows since the last draw go to the curves together: a burst of events (a busy server,
   * a replay on reconnect) costs one redraw, not one per row. */
  function queueRows(jobId, row) {
    const queued = pending.get(jobId);
    if (queued) {
      queued.push(row);
      return;
    }
    pending.set(jobId, [row]);
    setTimeout(() => {
      const rows = pending.get(jobId);
      pending.delete(jobId);
      if (jobId !== plotted) return;
      if (!extendCurves(jobId, rows)) {
        setProps(I.CURVES_REFRESH, { data: { job_id: jobId, epoch: rows[rows.length - 1].epoch } });
      }
    }, DRAW_EVERY_MS);
  }

  function stop(jobId) {
    const es = streams.get(jobId);
    if (es) es.close();
    streams.delete(jobId);
  }

  function follow(jobId) {
    if (streams.has(jobId)) return;
    const es = D.api.jobEvents(jobId);
    streams.set(jobId, es);
    es.addEventListener("metrics", (ev) => {
      const row = JSON.parse(ev.data);
      updateList(jobId, row);
      if (jobId === plotted) queueRows(jobId, row);
    });
    es.addEventListener("status", (ev) => {
      const job = JSON.parse(ev.data);
      if (job.final) stop(jobId);
      refreshList();
    });
  }

  Object.assign(D, {
    /* Inputs: the job list and the selected job. Follow the plotted job while it is active, and every
     * running job (their progress bars move with each epoch); close the other streams. */
    followJobs(list, selected) {
      watchList();
      jobs = (list || []).map((j) => Object.assign({}, j));
      plotted = selected !== null && selected !== undefined ? selected : jobs.length ? jobs[0].id : null;
      const wanted = jobs
        .filter((j) => running(j) || (j.id === plotted && j.active))
        .map((j) => j.id)
        .slice(0, MAX_STREAMS);
      for (const id of [...streams.keys()]) if (!wanted.includes(id)) stop(id);
      for (const id of wanted) follow(id);
      return ns.no_update;
    },
    /* The streams open now (the browser tests read this). */
    followedJobs() {
      return [...streams.keys()];
    },
  });
})();
