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
  // Frames that carry only what changed (offsetsite/live/delta.py) swap single rows and
  // cells too, and wrap new rows in a <tbody hx-swap-oob="beforeend:#id">.
  var OOB_TABLE_PART = /<(caption|tbody|thead|tfoot|tr|td|th)\b[^>]*\bhx-swap-oob=[^>]*>[\s\S]*?<\/\1>/gi;
  var ID_ATTR = /^<[a-z]+\b[^>]*?\bid="([^"]+)"/i;
  var OOB_TARGET = /^<[a-z]+\b[^>]*?\bhx-swap-oob="[a-z]+:#([^"]+)"/i;

  // A frame may carry parts this page does not show (the topic page's frame holds every
  // partition's newest records; the page shows one): drop those instead of letting htmx
  // report a missing target for each.
  function wrapOrDrop(part) {
    var id = OOB_TARGET.exec(part) || ID_ATTR.exec(part);
    if (id && !document.getElementById(id[1])) return "";
    return "<template>" + part + "</template>";
  }

  // Parts marked data-live-merge (the topic page's strips, replaced 2-3 times a second)
  // are merged into the page instead of swapped: an element whose id is on the page and
  // that did not change stays the very same node, so a tooltip open on a seat stays open
  // and only the seats that changed are replaced. (A lazy match: such a part must not
  // hold a nested <section>.)
  var MERGE_PART = /<section\b[^>]*\bdata-live-merge\b[^>]*>[\s\S]*?<\/section>/gi;

  function syncAttributes(cur, next) {
    var i;
    for (i = cur.attributes.length - 1; i >= 0; i--) {
      var name = cur.attributes[i].name;
      if (!next.hasAttribute(name)) cur.removeAttribute(name);
    }
    for (i = 0; i < next.attributes.length; i++) {
      var a = next.attributes[i];
      if (cur.getAttribute(a.name) !== a.value) cur.setAttribute(a.name, a.value);
    }
  }

  // Make cur (in the page) equal to next (parsed from the frame), keeping every node
  // that did not change. Children with an id are matched by id, at every depth; a
  // child without one is kept when equal, else replaced.
  function merge(cur, next) {
    if (cur.isEqualNode(next)) return;
    if (cur.tagName !== next.tagName) { cur.replaceWith(next); return; }
    syncAttributes(cur, next);
    var byId = {};
    var i, child;
    for (i = 0; i < cur.children.length; i++) {
      child = cur.children[i];
      if (child.id) byId[child.id] = child;
    }
    var wanted = [];
    var incoming = Array.prototype.slice.call(next.childNodes);
    var old = Array.prototype.slice.call(cur.childNodes);
    for (i = 0; i < incoming.length; i++) {
      var node = incoming[i];
      var match = node.nodeType === 1 && node.id ? byId[node.id] : null;
      if (!match && old[i] && !old[i].id && !node.id && old[i].isEqualNode(node)) {
        match = old[i];  // an unchanged child without an id, at the same place
      }
      if (match) {
        if (node.nodeType === 1) merge(match, node);
        wanted.push(match);
      } else {
        wanted.push(node);
      }
    }
    // Put the wanted nodes in order, moving only what is out of place.
    for (i = 0; i < wanted.length; i++) {
      if (cur.childNodes[i] !== wanted[i]) cur.insertBefore(wanted[i], cur.childNodes[i] || null);
    }
    while (cur.childNodes.length > wanted.length) cur.removeChild(cur.lastChild);
  }

  function mergeOrSwap(part) {
    var id = ID_ATTR.exec(part);
    var target = id ? document.getElementById(id[1]) : null;
    if (!target || !target.hasAttribute("data-live-merge")) return part;  // htmx swaps it
    var tpl = document.createElement("template");
    tpl.innerHTML = part;
    var next = tpl.content.firstElementChild;
    if (!next) return "";
    next.removeAttribute("hx-swap-oob");
    merge(target, next);
    document.dispatchEvent(new CustomEvent("live:merged", { detail: { id: id[1] } }));
    return "";
  }

  // A frame that carries only what changed names the elements that left the page (rows
  // that fell off a tail, seats that slid out of a strip) in one
  // <template data-live-delete="id id ...">: remove them before the frame's swaps.
  var DELETE_PART = /<template data-live-delete="([^"]*)"><\/template>/g;

  function deleteIds(_match, ids) {
    ids.split(" ").forEach(function (id) {
      var el = id ? document.getElementById(id) : null;
      if (el) el.remove();
    });
    return "";
  }

  // An element swapped alone (a seat whose state changed) inside a data-live-merge part
  // is merged too, so its unchanged children keep their nodes.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var d = evt.detail;
    if (!d || !d.target || !d.fragment || !d.target.closest || !d.target.closest("[data-live-merge]")) return;
    var next = d.fragment.firstElementChild;
    if (!next || next.id !== d.target.id || d.fragment.childElementCount !== 1) return;  // an insert, not a swap
    merge(d.target, next);
    d.shouldSwap = false;
  });

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var el = socketEl();
    var message = evt.detail ? evt.detail.message : null;
    if (!el || typeof message !== "string" || !window.htmx || typeof window.htmx.swap !== "function") return;
    evt.preventDefault();  // the extension skips its own swap (and htmx:wsAfterMessage)
    message = message.replace(DELETE_PART, deleteIds);
    message = message.replace(MERGE_PART, mergeOrSwap);
    window.htmx.swap(el, message.replace(OOB_TABLE_PART, wrapOrDrop), { swapStyle: "none" });
    afterFrame();
  });

  // Frames the extension swapped itself (when the handler above stood aside).
  document.addEventListener("htmx:wsAfterMessage", afterFrame);

  // A group's marker label hangs to the right of its seat; on a seat near the end of a
  // wrapped strip row it would stick out past the page's right edge and widen the page,
  // a horizontal scrollbar that comes and goes as the marker moves. Such labels hang to
  // the left instead, as the high watermark's always do (topics.css). Measured on load,
  // after every frame (a merge may reset the class) and when the window is resized.
  function hangMarkers() {
    var markers = document.querySelectorAll("ol.strip .marker");
    var over = [];
    var i;
    for (i = 0; i < markers.length; i++) markers[i].classList.remove("hang-left");
    for (i = 0; i < markers.length; i++) {  // reads only: one layout for all of them
      var box = markers[i].closest("ol.strip").getBoundingClientRect();
      var label = markers[i].getBoundingClientRect();
      var seat = markers[i].parentElement.getBoundingClientRect();
      // Only where hanging left keeps it in view: on a phone a label wider than the
      // space left of its seat rather scrolls inside its strip (topics.css).
      over.push(label.right > box.right + 0.5 && seat.right - label.width >= box.left - 0.5);
    }
    for (i = 0; i < markers.length; i++) if (over[i]) markers[i].classList.add("hang-left");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", hangMarkers);
  else hangMarkers();
  window.addEventListener("resize", hangMarkers);

  function afterFrame() {
    hangMarkers();
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
