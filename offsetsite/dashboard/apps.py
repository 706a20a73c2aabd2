from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "offsetsite.dashboard"
    label = "dashboard"
    verbose_name = "offsetsite dashboard pages"

    def ready(self) -> None:
        # Each page's live parts are rendered by the same partials as the page itself;
        # the live layer finds them through its registry.
        from . import live_groups, live_topics

        live_topics.register_all()
        live_groups.register_all()
