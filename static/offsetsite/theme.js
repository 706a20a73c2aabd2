/* Light or dark. Loaded in <head> without defer, before the stylesheet applies to the
 * body, so a page opens in the chosen theme without a flash of the other one (the CSP
 * allows no inline script: offsetsite/core/csp.py).
 *
 * <html data-theme="light|dark"> is the person's choice, kept in localStorage
 * ("offsetsite-theme"); without one the page follows prefers-color-scheme (site.css).
 * <html data-theme-effective> always says which palette shows, for the toggle's icon
 * and for lagchart.js.
 */
(function () {
  "use strict";
  var KEY = "offsetsite-theme";
  var root = document.documentElement;
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var v = window.localStorage.getItem(KEY);
      return v === "light" || v === "dark" ? v : null;
    } catch (e) {
      return null; // storage refused (private mode, policy): follow the system
    }
  }

  function effective() {
    var chosen = stored();
    if (chosen) return chosen;
    return media && media.matches ? "dark" : "light";
  }

  function apply() {
    var chosen = stored();
    if (chosen) root.setAttribute("data-theme", chosen);
    else root.removeAttribute("data-theme");
    var eff = effective();
    root.setAttribute("data-theme-effective", eff);
    var button = document.getElementById("theme-toggle");
    if (button) {
      var next = eff === "dark" ? "light" : "dark";
      button.setAttribute("aria-pressed", eff === "dark" ? "true" : "false");
      button.title = "Switch to the " + next + " theme";
    }
    document.dispatchEvent(new CustomEvent("theme:change", { detail: { theme: eff } }));
  }

  apply();
  if (media && media.addEventListener) media.addEventListener("change", apply);

  function bind() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      var next = effective() === "dark" ? "light" : "dark";
      try {
        window.localStorage.setItem(KEY, next);
      } catch (e) {
        root.setAttribute("data-theme", next); // not remembered, but still switched
      }
      apply();
      if (stored() === null) {
        root.setAttribute("data-theme", next);
        root.setAttribute("data-theme-effective", next);
      }
    });
    apply();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bind);
  else bind();
})();
