from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "offsetsite.live"
    label = "live"
    verbose_name = "offsetsite live updates and lag history"
