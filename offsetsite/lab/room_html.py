"""The room's live fragments, built in Python: the page and every frame use these.

Why not template partials like the other pages: a room of 50 attendees re-renders 50
personal panels at every lab version (up to ten a second), and a Django template of
this size took ~1 ms a panel and ~30 ms for the summary (measured with
``bench/room.py``'s data), most of a core for the room alone. ``format_html`` builds
the same markup in a few dozen microseconds. Every value goes through ``format_html``
or ``escape``: names are the attendees' own text and are never marked safe.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .room import RoomState, Row

_GROUP_NOTE = "the shared group's, all members together"


def _oob(oob: bool) -> SafeString:
    return mark_safe(' hx-swap-oob="true"' if oob else "")  # noqa: S308 - a constant


def me_panel(row: Row | None, *, oob: bool) -> SafeString:
    """The attendee's own checker (``#room-me``); a notice when it is gone."""
    if row is None:
        return format_html(
            '<section id="room-me" class="card room-me"{} aria-live="polite" data-state="gone">'
            "<h2>Your checker is gone</h2><p>The facilitator reset the lab (or the server restarted). "
            '<a href="">Reload</a> to join again.</p></section>',
            _oob(oob),
        )
    group_word = " (group)" if row.shared else ""
    how = "shared: the members split the partitions" if row.shared else "your own: you read every seat"
    notices = []
    if row.joining:
        if row.stale_s is not None:
            notices.append(
                format_html(
                    '<p class="notice">Waiting for the group: the crashed member\'s session ends in ~{} s, '
                    "then the group rebalances.</p>",
                    round(row.stale_s),
                )
            )
        else:
            notices.append(
                mark_safe('<p class="notice">Joining the group: waiting for the rebalance to hand out partitions.</p>')
            )
    if row.last_error:
        notices.append(format_html('<p class="notice bad">{}</p>', row.last_error))
    current = format_html("{}", row.current) if row.current else mark_safe('<span class="muted">nothing</span>')
    held = format_html(' <small class="muted">({} in hand)</small>', row.held) if row.held else ""
    facts = (
        ("Partitions", "", row.assignment),
        ("Processed", "num", row.processed),
        (f"Duplicates{group_word}", "num count-duplicates", row.duplicates),
        (f"Losses{group_word}", "num count-losses", row.losses),
        (f"In flight{group_word}", "num", row.in_flight),
        ("Lag", "num", row.lag),
    )
    return format_html(
        '<section id="room-me" class="card room-me"{} aria-live="polite" data-state="{}">'
        '<h2>Your checker, <span class="room-name">{}</span> <span class="state state-{}" data-testid="my-state">{}'
        "</span></h2>"
        '<p class="muted">In group <code>{}</code> ({}); {} (<code>{}</code>).</p>{}'
        '<dl class="facts room-facts"><div><dt>{}</dt><dd>{}</dd></div>'
        "<div><dt>Checking now</dt><dd>{}{}</dd></div>{}</dl></section>",
        _oob(oob),
        row.state,
        row.name,
        row.state,
        row.state,
        row.group,
        how,
        row.strategy_text,
        row.strategy,
        format_html_join("", "{}", ((n,) for n in notices)),
        facts[0][0],
        facts[0][2],
        current,
        held,
        format_html_join("", '<div><dt>{}</dt><dd class="{}">{}</dd></div>', facts[1:]),
    )


def summary(state: RoomState, topic: str, *, oob: bool) -> SafeString:
    """The room as everyone sees it (``#room-summary``): counts and the topic's partitions."""
    n = len(state.rows)
    shared = format_html(", {} in the shared group", state.shared_members) if state.shared_members else ""
    states = ""
    if state.counts_by_state:
        states = format_html(
            '<p class="room-states">{}</p>',
            format_html_join(
                " ", '<span class="state state-{}">{} {}</span>', ((s, c, s) for s, c in state.counts_by_state)
            ),
        )
    if state.partitions:
        rows = format_html_join(
            "",
            '<tr><td class="num">{}</td><td class="num" id="room-hw-p{}">{}</td><td>{}</td></tr>',
            ((p, p, hw, owner or mark_safe('<span class="muted">nobody</span>')) for p, hw, owner in state.partitions),
        )
    else:
        rows = mark_safe(
            '<tr><td colspan="3" class="empty">No train yet: it appears when the first attendee joins.</td></tr>'
        )
    return format_html(
        '<section id="room-summary" class="card room-summary"{} aria-label="The room">'
        '<h2>The room <small class="muted">{} attendee{}{}</small></h2>{}'
        '<div class="table-scroll"><table class="grid room-partitions">'
        "<caption>Partitions of <code>{}</code>: the high watermark is the next seat to be sold</caption>"
        '<thead><tr><th scope="col">Partition</th><th scope="col" class="num">High watermark</th>'
        '<th scope="col" title="the member of the shared group that owns the partition">Shared group</th></tr></thead>'
        "<tbody>{}</tbody></table></div></section>",
        _oob(oob),
        n,
        "" if n == 1 else "s",
        shared,
        states,
        topic,
        rows,
    )


def _row(r: Row) -> SafeString:
    tag = mark_safe(' <span class="tag">shared</span>') if r.shared else ""
    joining = ""
    if r.joining:
        wait = format_html(" ~{} s", round(r.stale_s)) if r.stale_s is not None else ""
        joining = format_html(' <small class="muted">joining{}</small>', wait)
    figure = (
        format_html('<td class="num group-figure" title="{}">{{}}</td>', _GROUP_NOTE)
        if r.shared
        else mark_safe('<td class="num">{}</td>')
    )
    return format_html(
        '<tr data-attendee="{}" class="state-{}"><th scope="row">{}{}</th>'
        '<td><code title="{}">{}</code></td><td><span class="state state-{}">{}</span>{}</td>'
        '<td class="num">{}</td>{}</tr>',
        r.name,
        r.state,
        r.name,
        tag,
        r.strategy_text,
        r.strategy,
        r.state,
        r.state,
        joining,
        r.processed,
        format_html_join("", figure, ((v,) for v in (r.duplicates, r.losses, r.in_flight, r.lag))),
    )


def rows(state: RoomState, *, oob: bool) -> SafeString:
    """Every attendee's row of the facilitator's table (``#room-rows``)."""
    if state.rows:
        body = format_html_join("", "{}", ((_row(r),) for r in state.rows))
    else:
        body = mark_safe(
            '<tr><td colspan="8" class="empty">Nobody has joined yet: attendees open <code>/lab/room/</code> '
            "and pick a name.</td></tr>"
        )
    return format_html('<tbody id="room-rows"{}>{}</tbody>', _oob(oob), body)


def denied_rows() -> SafeString:
    return mark_safe(
        '<tbody id="room-rows" hx-swap-oob="true"><tr><td colspan="8" class="empty">'
        "The facilitator's view needs the operator role.</td></tr></tbody>"
    )
