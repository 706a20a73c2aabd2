from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "offsetsite.dashboard"
    label = "dashboard"
    verbose_name = "offsetsite dashboard pages"

    def ready(self) -> None:
        # Each page's live parts are rendered by the same partials as the page itself;
        # the live layer finds them through its registry.
        from offsetsite.dashboard.consumer_offsets import live as consumer_offsets_live
        from offsetsite.dashboard.groups import live as groups_live
        from offsetsite.dashboard.topics import live as topics_live

        topics_live.register_all()
        consumer_offsets_live.register_all()
        groups_live.register_all()
