from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "offsetsite.core"
    label = "core"
    verbose_name = "offsetsite core: roles and audit"
