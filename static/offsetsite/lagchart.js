/* Lag charts: fetch /groups/<g>/lag.json?range=... and draw one uPlot series per
 * partition plus the group total. Refreshes every 5 s, and on "live:lag" events from
 * live.js (at most once every 2 s, so a burst of frames is not a burst of fetches).
 */
(function () {
  "use strict";
  if (window.offsetsiteLagChart) return;
  window.offsetsiteLagChart = true;

  var REFRESH_MS = 5000;
  var MIN_GAP_MS = 2000;
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function Chart(fig) {
    this.fig = fig;
    this.url = fig.getAttribute("data-lag-url");
    this.range = fig.getAttribute("data-range") || "15m";
    this.plotEl = fig.querySelector(".lag-chart-plot");
    this.emptyEl = fig.querySelector(".lag-chart-empty");
    this.plot = null;
    this.keys = "";
    this.lastFetch = 0;
    this.inflight = false;
    this.timer = null;
    var self = this;
    fig.querySelectorAll("button[data-range]").forEach(function (b) {
      b.addEventListener("click", function () {
        self.range = b.getAttribute("data-range");
        fig.setAttribute("data-range", self.range);
        fig.querySelectorAll("button[data-range]").forEach(function (o) {
          var on = o === b;
          o.classList.toggle("active", on);
          o.setAttribute("aria-pressed", on ? "true" : "false");
        });
        self.fetch(true);
      });
    });
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (self.plot) self.plot.setSize(self.size());
      }).observe(this.plotEl);
    }
    this.fetch(true);
    this.timer = setInterval(function () { self.fetch(false); }, REFRESH_MS);
  }

  Chart.prototype.size = function () {
    return { width: Math.max(320, this.plotEl.clientWidth || 600), height: 240 };
  };

  Chart.prototype.fetch = function (force) {
    var now = Date.now();
    if (this.inflight || (!force && now - this.lastFetch < MIN_GAP_MS)) return;
    if (document.hidden && !force) return;
    this.inflight = true;
    this.lastFetch = now;
    var self = this;
    fetch(this.url + "?range=" + encodeURIComponent(this.range), {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { self.draw(data); })
      .catch(function (err) { self.fig.setAttribute("data-error", String(err)); })
      .then(function () { self.inflight = false; });
  };

  Chart.prototype.draw = function (data) {
    var s = data.series || {};
    var t = s.t || [];
    this.fig.setAttribute("data-points", String(t.length));
    this.fig.removeAttribute("data-error");
    if (this.emptyEl) this.emptyEl.hidden = t.length > 0;
    var parts = data.partitions || [];
    var keys = parts.map(function (p) { return p.key; }).join("\u0000");
    // The x axis ends now and spans the chosen range; while the history is shorter than
    // the range it starts a little before the first sample, so a young chart is readable
    // rather than a sliver at the right edge.
    var end = data.now || (t.length ? t[t.length - 1] : 1);
    var start = data.since || (t.length ? t[0] : 0);
    if (t.length) start = Math.max(start, t[0] - Math.max(60, (end - t[0]) * 0.1));
    this.xRange = [start, end];
    var cols = [t, s.total || []];
    parts.forEach(function (p) { cols.push(s[p.key] || []); });
    if (this.plot && keys === this.keys) {
      this.plot.setData(cols);
      this.plot.setScale("x", { min: this.xRange[0], max: this.xRange[1] });
      return;
    }
    if (this.plot) this.plot.destroy();
    this.keys = keys;
    var self = this;
    var series = [{}, { label: "total", stroke: "#222", width: 2 }];
    parts.forEach(function (p, i) {
      series.push({ label: p.key, stroke: PALETTE[i % PALETTE.length], width: 1 });
    });
    var opts = Object.assign(this.size(), {
      series: series,
      scales: { x: { time: true, range: function () { return self.xRange; } }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [{}, { label: "messages" }],
      legend: { live: true }
    });
    this.plot = new uPlot(opts, cols, this.plotEl);
  };

  function start() {
    var charts = [];
    document.querySelectorAll("figure.lag-chart[data-lag-url]").forEach(function (fig) {
      if (!fig.lagChart) { fig.lagChart = new Chart(fig); }
      charts.push(fig.lagChart);
    });
    document.addEventListener("live:lag", function () {
      charts.forEach(function (c) { c.fetch(false); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
