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

  // The ws extension parses a whole frame in one <template>, whose parsing mode the
  // first tag decides: after a <dl> or <section>, a top-level <tbody>/<tfoot> loses its
  // rows and its swap fails (htmx:oobErrorNoTarget). htmx.swap() also swaps the oob
  // elements it finds inside <template> wrappers, each parsed in a table context; so
  // wrap the frame's table parts and let htmx.swap do the frame. (The lazy match ends at
  // the first closing tag: a live table part must not hold a nested table.)
  var OOB_TABLE_PART = /<(caption|tbody|thead|tfoot|tr)\b[^>]*\bhx-swap-oob=[^>]*>[\s\S]*?<\/\1>/gi;
  var ID_ATTR = /^<[a-z]+\b[^>]*?\bid="([^"]+)"/i;

  // A frame may carry parts this page does not show (the topic page's frame holds every
  // partition's newest records; the page shows one): drop those instead of letting htmx
  // report a missing target for each.
  function wrapOrDrop(part) {
    var id = ID_ATTR.exec(part);
    if (id && !document.getElementById(id[1])) return "";
    return "<template>" + part + "</template>";
  }

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var el = socketEl();
    var message = evt.detail ? evt.detail.message : null;
    if (!el || typeof message !== "string" || !window.htmx || typeof window.htmx.swap !== "function") return;
    evt.preventDefault();  // the extension skips its own swap (and htmx:wsAfterMessage)
    window.htmx.swap(el, message.replace(OOB_TABLE_PART, wrapOrDrop), { swapStyle: "none" });
    afterFrame();
  });

  // Frames the extension swapped itself (when the handler above stood aside).
  document.addEventListener("htmx:wsAfterMessage", afterFrame);

  function afterFrame() {
    var marker = document.getElementById("live-version");
    var el = socketEl();
    var version = marker ? marker.getAttribute("data-ws-version") : null;
    if (el && version !== null) el.setAttribute("data-ws-version", version);
    document.dispatchEvent(new CustomEvent("live:frame", { detail: { version: version } }));
    if (el && el.getAttribute("data-live-kind") === "group") {
      document.dispatchEvent(new CustomEvent("live:lag", { detail: { version: version } }));
    }
  }
})();
