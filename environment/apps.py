from django.apps import AppConfig


class EnvironmentConfig(AppConfig):
    name = "environment"
    verbose_name = "Environment (areas and census)"

    def ready(self) -> None:
        from environment import signals

        signals.connect()
