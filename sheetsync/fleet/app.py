"""The deployment's Celery app, from the environment: ``celery -A sheetsync.fleet.app worker|beat``."""

from sheetsync.fleet.tasks import make_app

app = make_app()
