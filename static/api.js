/* DrSAE Explorer: the browser's one client of the JSON API (docs/api.md). Other files call window.drsae.api;
 * none of them builds an API URL. Answers are {ok: true, data} or {ok: false, status, detail}; a network
 * failure throws. */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));
  async function post(path, body) {
    const res = await fetch(`/api${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.ok) return { ok: true, data: await res.json() };
    let detail = res.statusText;
    try {
      const j = await res.json();
      detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail);
    } catch (e) {
      /* not JSON */
    }
    return { ok: false, status: res.status, detail };
  }
  D.api = {
    /* POST /api/models/{id}/encode: every iteration of one input (with interventions, decompose, ...). The
     * input is {image} (pixels or a PNG data URL) or {dataset, split, index} (a stored digit, by reference). */
    encode(modelId, body) {
      return post(`/models/${encodeURIComponent(modelId)}/encode`, body);
    },
    /* GET /api/jobs/{id}/events: the job's epoch rows and status changes as server-sent events. */
    jobEvents(jobId) {
      return new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
    },
  };
})();
