"""gunicorn entry point: ``gunicorn webhook.wsgi:app`` (add ``--worker-class
webhook.web.server.BufferingWorker`` so slow clients cannot hold the threads)."""

from webhook.web.app import create_app

app = create_app()
