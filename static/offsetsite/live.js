/* offsetsite live pages: mark the socket's state on #live-socket, mirror the version of
 * the last frame, tell the lag chart, and reconnect where the htmx ws extension does not.
 *
 * The ws extension swaps every top-level element of a frame out of band by id; this
 * file only watches. data-ws-state: connecting | open | closed | login-required.
 */
(function () {
  "use strict";
  if (window.offsetsiteLive) return;  // included twice: once is enough
  window.offsetsiteLive = true;

  // Codes the extension retries itself (abnormal closure, restart, try again later).
  var EXT_RETRIES = [1006, 1011, 1012, 1013];
  var retries = 0;

  function socketEl() { return document.getElementById("live-socket"); }

  function setState(state, code) {
    var el = socketEl();
    if (!el) return;
    el.setAttribute("data-ws-state", state);
    if (code !== undefined) el.setAttribute("data-ws-close-code", String(code));
    document.documentElement.setAttribute("data-ws-state", state);
  }

  document.addEventListener("htmx:wsConnecting", function () { setState("connecting"); });

  document.addEventListener("htmx:wsOpen", function () {
    retries = 0;
    setState("open");
  });

  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail && evt.detail.event ? evt.detail.event.code : 0;
    if (code === 4401) {
      setState("login-required", code);
      return;  // the server wants a login: retrying would not help
    }
    setState("closed", code);
    // A clean close from a server going down (1001 going away, 1005 no status) is not
    // retried by the extension; the page would silently go stale, so retry here.
    if (EXT_RETRIES.indexOf(code) < 0 && code !== 1000 && evt.detail && evt.detail.socketWrapper) {
      var wrapper = evt.detail.socketWrapper;
      var delay = Math.min(30000, 1000 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
      retries += 1;
      setTimeout(function () { setState("connecting"); wrapper.reconnect(); }, delay);
    }
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    var marker = document.getElementById("live-version");
    var el = socketEl();
    var version = marker ? marker.getAttribute("data-ws-version") : null;
    if (el && version !== null) el.setAttribute("data-ws-version", version);
    document.dispatchEvent(new CustomEvent("live:frame", { detail: { version: version } }));
    if (el && el.getAttribute("data-live-kind") === "group") {
      document.dispatchEvent(new CustomEvent("live:lag", { detail: { version: version } }));
    }
  });
})();
