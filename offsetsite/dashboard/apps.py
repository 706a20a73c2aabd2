from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "offsetsite.dashboard"
    label = "dashboard"
    verbose_name = "offsetsite dashboard pages"
