/* DrSAE Explorer, training page: its state in the URL, without a navigation, so a reload or a shared link
 * shows the same job, compared runs, grouping, smoothing and metric (app/pages/training.py reads them). */
(function () {
  "use strict";
  const ns = (window.dash_clientside = window.dash_clientside || {});
  const D = (window.drsae = ns.drsae = Object.assign(window.drsae || {}, ns.drsae || {}));

  function put(q, key, value) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) q.delete(key);
    else q.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }

  Object.assign(D, {
    /* Inputs: the plotted job, the compared runs, the grouping, the smoothing and the metric. */
    syncTrainingUrl(job, runs, group, smooth, metric) {
      if (window.location.pathname !== "/training") return ns.no_update;
      const q = new URLSearchParams(window.location.search);
      put(q, "job", job);
      put(q, "runs", runs);
      put(q, "group", group);
      put(q, "smooth", smooth ? smooth : null);
      put(q, "metric", metric && metric !== "val_error" ? metric : null);
      const url = `${window.location.pathname}?${q.toString()}`;
      if (url !== window.location.pathname + window.location.search) {
        window.history.replaceState(window.history.state, "", url);
      }
      return ns.no_update;
    },
  });
})();
