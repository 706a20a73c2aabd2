/* Lag charts: fetch /groups/<g>/lag.json?range=... and draw one uPlot series per
 * partition plus the group total. Refreshes every 5 s, and on "live:lag" events from
 * live.js (at most once every 2 s, so a burst of frames is not a burst of fetches).
 *
 * The JSON's "marks" (resets, rebalances, deletes, operators' actions: offsetsite/live/
 * marks.py) are dashed vertical lines on the time axis, listed under the chart with their
 * time and author. The legend shows each series' value at the cursor, and the newest
 * values while the cursor is elsewhere. Colours come from site.css's tokens and follow
 * the theme (theme.js sends "theme:change").
 */
(function () {
  "use strict";
  if (window.offsetsiteLagChart) return;
  window.offsetsiteLagChart = true;

  var REFRESH_MS = 5000;
  var MIN_GAP_MS = 2000;
  // Okabe & Ito's colour-blind-safe set (the total is drawn thicker, in the text colour).
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                 "#999933", "#882255", "#44AA99", "#AA4499"];
  var MARK_LETTER = { reset: "R", rebalance: "G", "delete": "D", action: "A" };
  var MARK_WORD = { reset: "reset", rebalance: "rebalance", "delete": "delete", action: "operator action" };
  var MARKS_LISTED = 6;

  function token(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name);
    return (v && v.trim()) || fallback;
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // One time format with the tables (times.py's "2026-11-30 12:34:56", local): the axis
  // says HH:MM (HH:MM:SS under a minute apart) and adds the date where the day changes.
  function axisValues(u, splits, axisIdx, space, incr) {
    var prevDay = null;
    return splits.map(function (ts) {
      var d = new Date(ts * 1000);
      var day = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
      var text = pad(d.getHours()) + ":" + pad(d.getMinutes()) + (incr < 60 ? ":" + pad(d.getSeconds()) : "");
      if (prevDay !== null && day !== prevDay) text = day + "\n" + text;
      prevDay = day;
      return text;
    });
  }

  function stamp(ts) {
    var d = new Date(ts * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function legendValue(u, v) {
    return v == null ? "\u2013" : Math.round(v).toLocaleString();
  }

  function Chart(fig) {
    this.fig = fig;
    this.url = fig.getAttribute("data-lag-url");
    this.range = fig.getAttribute("data-range") || "15m";
    this.plotEl = fig.querySelector(".lag-chart-plot");
    this.emptyEl = fig.querySelector(".lag-chart-empty");
    this.plot = null;
    this.keys = "";
    this.marks = [];
    this.markList = document.createElement("ul");
    this.markList.className = "lag-chart-marks";
    this.markList.setAttribute("aria-label", "Marks on the time axis");
    this.plotEl.insertAdjacentElement("afterend", this.markList);
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
    document.addEventListener("theme:change", function () {
      // Stroke colours are baked into a uPlot instance: build it again in the new palette.
      if (self.plot && self.data) { self.keys = ""; self.draw(self.data); }
    });
    this.fetch(true);
    this.timer = setInterval(function () { self.fetch(false); }, REFRESH_MS);
  }

  Chart.prototype.showMarks = function (marks) {
    this.marks = marks;
    var counts = {};
    marks.forEach(function (m) { counts[m.kind] = (counts[m.kind] || 0) + 1; });
    this.fig.setAttribute("data-marks", String(marks.length));
    this.fig.setAttribute("data-marks-reset", String(counts.reset || 0));
    var list = this.markList;
    while (list.firstChild) list.removeChild(list.firstChild);
    marks.slice(-MARKS_LISTED).reverse().forEach(function (m) {
      var li = document.createElement("li");
      li.className = "mark-" + m.kind;
      li.setAttribute("data-kind", m.kind);
      var key = document.createElement("span");
      key.className = "key";
      key.textContent = MARK_LETTER[m.kind] || "?";
      li.appendChild(key);
      var text = stamp(m.t) + " " + (MARK_WORD[m.kind] || m.kind) + (m.by ? " by " + m.by : "");
      li.appendChild(document.createTextNode(" " + text));
      li.title = m.label || text;  // textContent and title: never markup from the JSON
      list.appendChild(li);
    });
    list.hidden = marks.length === 0;
  };

  Chart.prototype.drawMarks = function (u) {
    var marks = this.marks;
    if (!marks.length) return;
    var ctx = u.ctx;
    var top = u.bbox.top, height = u.bbox.height;
    var dpr = window.devicePixelRatio || 1;
    ctx.save();
    ctx.lineWidth = 1.5 * dpr;
    ctx.setLineDash([4 * dpr, 3 * dpr]);
    ctx.font = "600 " + Math.round(10 * dpr) + "px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    var min = u.scales.x.min, max = u.scales.x.max;
    marks.forEach(function (m) {
      if (m.t < min || m.t > max) return;
      var x = Math.round(u.valToPos(m.t, "x", true));
      var colour = token("--mark-" + (m.kind === "action" ? "member" : m.kind), "#c2410c");
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillText(MARK_LETTER[m.kind] || "?", x + 7 * dpr, top + 2 * dpr);
    });
    ctx.restore();
  };

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
    this.data = data;
    this.showMarks(data.marks || []);
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
      this.latestLegend();
      return;
    }
    if (this.plot) this.plot.destroy();
    this.keys = keys;
    var self = this;
    var fg = token("--fg", "#18202e"), muted = token("--muted", "#5b6576"), grid = token("--chart-grid", "#e6e9ef");
    var series = [
      { value: function (u, v) { return v == null ? "\u2013" : stamp(v); } },
      { label: "total", stroke: token("--chart-total", fg), width: 2.5, value: legendValue }
    ];
    parts.forEach(function (p, i) {
      series.push({ label: p.key, stroke: PALETTE[i % PALETTE.length], width: 1.5, value: legendValue });
    });
    var axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "12px system-ui, sans-serif" };
    var opts = Object.assign(this.size(), {
      series: series,
      scales: { x: { time: true, range: function () { return self.xRange; } }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      // space: at least 90 px between time labels, so "07:59" and "08:00" never touch.
      axes: [
        Object.assign({}, axis, { space: 90, values: axisValues, size: 44 }),
        Object.assign({}, axis, { label: "messages", labelFont: "12px system-ui, sans-serif", size: 56,
          values: function (u, splits) { return splits.map(function (v) { return v.toLocaleString(); }); } })
      ],
      legend: { live: true },
      cursor: { points: { size: 6 } },
      hooks: {
        draw: [function (u) { self.drawMarks(u); }],
        setCursor: [function (u) { if (u.cursor.idx == null) self.latestLegend(); }]
      }
    });
    this.plot = new uPlot(opts, cols, this.plotEl);
    this.latestLegend();
  };

  // With the cursor off the chart the legend shows the newest point, not dashes.
  Chart.prototype.latestLegend = function () {
    var u = this.plot;
    if (!u || !u.data || !u.data[0] || !u.data[0].length || u.cursor.idx != null) return;
    if (typeof u.setLegend === "function") u.setLegend({ idx: u.data[0].length - 1 });
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
