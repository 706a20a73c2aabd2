"""Frames that carry what changed: the difference between two renders of a page's live parts.

A renderer returns top-level elements with an ``id`` (see :mod:`offsetsite.live.registry`).
Inside them, every element with an ``id`` is a place a frame can address on its own: htmx
swaps an element out of band by id (``hx-swap-oob="true"``), and inserts the children of
a wrapper next to one (``hx-swap-oob="beforeend:#id"``, ``afterend:#id``, htmx 2's
out-of-band swap strategies, https://htmx.org/attributes/hx-swap-oob/). So instead of
sending the whole region again, :func:`diff` compares the render a socket was last sent
with the new one, element by element, and keeps only:

- an element whose own markup (its "shell": its HTML with every element-with-id inside
  it cut out) changed: the element, whole;
- an element whose shell is the same: nothing of its own, only what changed inside it;
- a list of elements with ids (rows of a tbody, seats of a strip) that only gained or lost
  members, the kept ones in the same order: the new members inserted after the kept
  member before them (``beforeend`` at the end of the list), the gone ones named in one
  ``<template data-live-delete="id id ...">`` that static/offsetsite/live.js removes.

Whitespace between the members of a list is not part of the comparison: new members are
inserted without it (rows of a table and items of a flex strip look the same either way).

The markup is the site's own templates' output (autoescaped, every element closed), read
with one regular expression; anything this reader does not follow (a ``<script>``, a close
tag with no open one) makes :func:`parse` answer None, and the consumer then sends the
whole render, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.html import escape

# Elements with no end tag (https://html.spec.whatwg.org/#void-elements).
VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"])
_TAG = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.S)
_ID = re.compile(r"""\sid=(?:"([^"]*)"|'([^']*)')""")
_RAW = frozenset(("script", "style", "textarea", "title"))  # raw text: not read here
HOLE = "\x00"  # stands for one member cut out of a shell


@dataclass
class Node:
    """An element with an id: where it is in the render and the elements with ids inside it."""

    id: str
    tag: str
    html: str
    kids: list[Node] = field(default_factory=list)
    direct: bool = True  # a child of the element with an id it belongs to (no element between)
    _spans: list[tuple[int, int]] = field(default_factory=list)
    _shell: str | None = None

    @property
    def shell(self) -> str:
        """The element's HTML with each member (nearest element with an id inside) replaced by HOLE."""
        if self._shell is None:
            parts, at = [], 0
            for start, end in self._spans:
                parts.append(self.html[at:start])
                parts.append(HOLE)
                at = end
            parts.append(self.html[at:])
            self._shell = "".join(parts)
        return self._shell

    def oob(self) -> str:
        """The element, marked to be swapped out of band by its id."""
        if "hx-swap-oob=" in self.html[: self.html.find(">")]:
            return self.html
        n = len(self.tag) + 1
        return self.html[:n] + ' hx-swap-oob="true"' + self.html[n:]


@dataclass
class _Open:
    tag: str
    start: int
    id: str | None
    end_of_start_tag: int
    kids: list[Node]
    spans: list[tuple[int, int]]


def parse(html: str) -> list[Node] | None:
    """The top-level elements of a render, each with the elements with ids inside it.

    None when the render holds something this reader does not follow, or text or an
    element without an id at the top level (a frame could not address it).
    """
    top: list[Node] = []
    stack: list[_Open] = []
    at = 0
    for m in _TAG.finditer(html):
        if not stack and html[at : m.start()].strip():
            return None  # text at the top level
        at = m.end()
        if m.group(2) is None:
            continue  # a comment
        closing, tag, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
        if tag in _RAW:
            return None
        if not closing:
            if tag in VOID or attrs.rstrip().endswith("/"):
                if not stack:
                    return None  # a top-level element must have an id and an end
                idm = _ID.search(attrs)
                if idm is not None:
                    node = Node(idm.group(1) or idm.group(2) or "", tag, html[m.start() : m.end()])
                    node.direct = stack[-1].id is not None
                    _member_of(stack).append(node)
                    _spans_of(stack).append((m.start(), m.end()))
                continue
            idm = _ID.search(attrs)
            el_id = (idm.group(1) or idm.group(2) or "") if idm else None
            if el_id is None and not stack:
                return None
            stack.append(_Open(tag, m.start(), el_id, m.end(), [], []))
            continue
        if not stack or stack[-1].tag != tag:
            return None  # an end tag this reader cannot pair
        el = stack.pop()
        if el.id is None:
            continue
        node = Node(
            el.id, tag, html[el.start : m.end()], el.kids, _spans=[(s - el.start, e - el.start) for s, e in el.spans]
        )
        if stack:
            node.direct = stack[-1].id is not None
            _member_of(stack).append(node)
            _spans_of(stack).append((el.start, m.end()))
        else:
            top.append(node)
    if stack or html[at:].strip():
        return None
    return top


def _nearest_with_id(stack: list[_Open]) -> _Open:
    for el in reversed(stack):
        if el.id is not None:
            return el
    raise AssertionError("the top level always has an id")  # parse() refuses one without


def _member_of(stack: list[_Open]) -> list[Node]:
    return _nearest_with_id(stack).kids


def _spans_of(stack: list[_Open]) -> list[tuple[int, int]]:
    return _nearest_with_id(stack).spans


def diff(old: list[Node], new: list[Node]) -> str:
    """The frame that turns a page showing ``old`` into one showing ``new``."""
    out: list[str] = []
    gone: list[str] = []
    before = {n.id: n for n in old}
    for n in new:
        o = before.get(n.id)
        if o is None:
            out.append(n.oob())  # new on the page: whole
        else:
            _diff_node(o, n, out, gone)
    # A top-level element missing from ``new`` stays on the page as it was (a renderer
    # that returns nothing for a deleted topic leaves its last frame), as before.
    if gone:
        out.insert(0, f'<template data-live-delete="{escape(" ".join(gone))}"></template>')
    return "\n".join(out)


_RUN = re.compile(HOLE + r"(?:\s*" + HOLE + ")*")


def _diff_node(o: Node, n: Node, out: list[str], gone: list[str]) -> None:
    if o.html == n.html:
        return
    old_ids = [k.id for k in o.kids]
    new_ids = [k.id for k in n.kids]
    if old_ids == new_ids:
        if o.shell != n.shell:
            out.append(n.oob())
            return
        for ok, nk in zip(o.kids, n.kids, strict=True):
            _diff_node(ok, nk, out, gone)
        return
    # The members changed: a list that gained or lost members, if everything else of the
    # element is the same and its members sit in one run (whitespace between them).
    o_shell, n_shell = _RUN.sub(HOLE, o.shell), _RUN.sub(HOLE, n.shell)
    if (
        o_shell != n_shell
        or o_shell.count(HOLE) != 1
        or len(set(new_ids)) != len(new_ids)
        or not all(k.direct for k in o.kids + n.kids)  # inserted next to them, in their parent
    ):
        out.append(n.oob())
        return
    new_set = set(new_ids)
    old_set = set(old_ids)
    kept_old = [k for k in o.kids if k.id in new_set]
    kept_new = [k for k in n.kids if k.id in old_set]
    if not kept_new or [k.id for k in kept_old] != [k.id for k in kept_new]:
        out.append(n.oob())  # nothing kept, or reordered: the element whole
        return
    gone.extend(k.id for k in o.kids if k.id not in new_set)
    for ok, nk in zip(kept_old, kept_new, strict=True):
        _diff_node(ok, nk, out, gone)
    # Runs of new members, each inserted after the kept member before it.
    at_end = n_shell.split(HOLE, 1)[1].lstrip().startswith(f"</{n.tag}")
    prev: str | None = None
    run: list[str] = []

    def flush(last: bool) -> None:
        if not run:
            return
        if prev is None:
            where = f"beforebegin:#{kept_new[0].id}"
        elif last and at_end:
            where = f"beforeend:#{n.id}"
        else:
            where = f"afterend:#{prev}"
        out.append(f'<{n.tag} hx-swap-oob="{escape(where)}">{"".join(run)}</{n.tag}>')
        run.clear()

    for k in n.kids:
        if k.id in old_set:
            flush(False)
            prev = k.id
        else:
            run.append(k.html)
    flush(True)
