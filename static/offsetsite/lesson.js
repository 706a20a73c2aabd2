/* The lesson page: count down "the crashed member's session ends in ~N s" between frames.
 * The server sends the remaining time with each frame (no clock is shared); the text
 * then counts down here until the next frame replaces it. */
(function () {
  "use strict";
  function arm() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-ms]").forEach(function (el) {
      if (!el.dataset.deadline) el.dataset.deadline = String(now + Number(el.getAttribute("data-countdown-ms")));
    });
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-ms]").forEach(function (el) {
      var left = Math.max(0, Math.ceil((Number(el.dataset.deadline) - now) / 1000));
      el.textContent = "~" + left + " s";
    });
  }
  document.addEventListener("DOMContentLoaded", arm);
  document.addEventListener("live:frame", arm);
  setInterval(tick, 500);
})();
