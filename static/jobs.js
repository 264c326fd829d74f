/* DrSAE Explorer, training page: follow active jobs on the API's server-sent event stream
 * (GET /api/jobs/{id}/events, opened by static/api.js) instead of polling.
 *
 * Each `metrics` event is one epoch row: the followed job's rows go into the job-live store (the curves
 * are drawn from them) and the job list is refreshed once per burst of events; a `status` event refreshes
 * the list too, and a final status closes the stream (else EventSource would reconnect and replay it).
 */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  // One namespace: window.drsae is also Dash's clientside namespace "drsae"; its ids come from app/ids.py.
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  const I = D.ids;
  const ACTIVE = ["queued", "running"];
  const FINAL = ["finished", "failed", "cancelled", "interrupted"];
  const MAX_STREAMS = 4; // a browser opens at most 6 connections to one host
  const streams = new Map(); // job id -> EventSource
  const rows = new Map(); // job id -> epoch rows, by epoch
  let refreshQueued = false;

  function setProps(id, props) {
    if (ns.set_props) ns.set_props(id, props);
  }

  /* Ask the job list again (one request for a burst of events, not one per event). */
  function refreshList() {
    if (refreshQueued) return;
    refreshQueued = true;
    setTimeout(() => {
      refreshQueued = false;
      setProps(I.JOBS_REFRESH, { data: Date.now() });
    }, 250);
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
    rows.set(jobId, []);
    es.addEventListener("metrics", (ev) => {
      const row = JSON.parse(ev.data);
      // a reconnect replays the rows from the first epoch: keep one row per epoch
      const mine = rows.get(jobId).filter((r) => r.epoch !== row.epoch);
      mine.push(row);
      mine.sort((a, b) => a.epoch - b.epoch);
      rows.set(jobId, mine);
      setProps(I.JOB_LIVE, { data: { job_id: jobId, rows: mine } });
      refreshList();
    });
    es.addEventListener("status", (ev) => {
      const job = JSON.parse(ev.data);
      if (FINAL.includes(job.status)) stop(jobId);
      refreshList();
    });
  }

  Object.assign(D, {
    /* Inputs: the job list and the selected job. Follow the plotted job while it is active, and every
     * running job (their progress bars move with each epoch); close the other streams. */
    followJobs(jobs, selected) {
      const list = jobs || [];
      const plotted = selected !== null && selected !== undefined ? selected : list.length ? list[0].id : null;
      const wanted = list
        .filter((j) => j.status === "running" || (j.id === plotted && ACTIVE.includes(j.status)))
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
