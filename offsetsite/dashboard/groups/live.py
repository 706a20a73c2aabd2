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
    from offsetsite.dashboard.groups import views as views_groups
    from offsetsite.dashboard.groups.status import local_tracker
    from offsetsite.dashboard.overview import views as views_overview
    from offsetsite.live.registry import register

    register("overview", views_overview.render_live)
    register("group", views_groups.render_live)
    # Follow commits and appends from the moment the engine opens, not from the first
    # page view: health needs the commits made while nobody was looking. The engine is
    # the "local" cluster whichever request happens to open it.
    engine.on_open(lambda cluster: local_tracker().attach(cluster.events))
    # A Kafka cluster's tracker follows its watcher's events from the moment it opens.
    from offsetsite import clusters
    from offsetsite.dashboard.groups.status import tracker

    clusters.on_open(lambda name, cluster: tracker(name).attach(cluster.events))
