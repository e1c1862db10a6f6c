import os

from django.core.wsgi import get_wsgi_application

from config import telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
telemetry.configure()  # before Django builds its middleware chain; off unless OTLP is configured
application = get_wsgi_application()
