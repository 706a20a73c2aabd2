from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "offsetsite.api"
    label = "api"
    verbose_name = "offsetsite JSON API and metrics"
