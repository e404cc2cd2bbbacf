"""gunicorn for production: ``gunicorn -c deploy/gunicorn.conf.py dualchannel.config.wsgi``.

Environment: GUNICORN_BIND (127.0.0.1:8000, behind the TLS proxy), GUNICORN_WORKERS (2 × cores
+ 1). Sync workers: every request is short (the platform calls are queued jobs, not awaited), and
the database connection of a worker is kept (DB_CONN_MAX_AGE) with its prepared statements.
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1) + 1))
worker_class = "sync"
# Import the application once in the master; the workers are forked warm.
preload_app = True
timeout = 60
graceful_timeout = 30
# A worker is replaced after this many requests (spread so they do not all restart at once).
max_requests = 20_000
max_requests_jitter = 2_000
# Django's LOGGING writes to the console; gunicorn's access log would name every URL (a patient's
# prescription number is in some): errors only.
accesslog = None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")


# The application's objects imported in the master (Django, the apps, the catalogue's caches:
# about 460,000 objects) are frozen before each fork, so a worker's garbage collector never walks
# them: its full collections stay short (no pause of tens of milliseconds under a request) and do
# not touch, so copy, the pages the workers share. The recipe of the ``gc.freeze`` docs: no
# collection in the master from here (this file is read before the application is imported; the
# master's own loop allocates little), freeze right before each fork, collect again in the worker.
gc.disable()


def pre_fork(server, worker):
    gc.freeze()


def post_fork(server, worker):
    gc.enable()
