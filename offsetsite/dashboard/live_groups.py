"""Live renderers of the overview and the group page (see offsetsite.live.registry).

Each returns the same template partials the page renders, marked ``hx-swap-oob``.
The overview's key is the viewer's query string (filter, sort, pages), which the page
passes to ``{% live_socket "overview" live_key %}``; the group page's key is the group id.
"""

from __future__ import annotations


def register_all() -> None:
    # Imported here: the live app may load after this one, and importing views at app
    # registry time would pull in models too early.
    from offsetsite import engine
    from offsetsite.live.registry import register

    from . import views_groups, views_overview
    from .group_status import tracker

    register("overview", views_overview.render_live)
    register("group", views_groups.render_live)
    # Follow commits and appends from the moment the engine opens, not from the first
    # page view: health needs the commits made while nobody was looking.
    engine.on_open(lambda cluster: tracker().attach(cluster.events))
