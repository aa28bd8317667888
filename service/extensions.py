"""Per-process resources, reached from views through getters, never through globals:
the model store, the predictor (with its cache of loaded networks) and the job runner.

The runner is a thread; threads do not survive a fork, so it is started lazily in the process
that serves requests (first request, or gunicorn's ``post_worker_init`` hook), never at import
and never in a gunicorn master that preloads the app.
"""
import os
import threading

from flask import current_app

from .jobs import Runner
from .predictor import Predictor
from .store import ModelStore

_start_lock = threading.Lock()


class Resources:
    def __init__(self, app):
        self.config = app.config
        self.store = ModelStore(app.config["MODEL_DIR"])
        self.predictor = Predictor(self.store)
        self.runner = None
        self.openapi = None  # built on first request

    def ensure_runner(self):
        """The runner of this process, started on first use (again after a fork)."""
        runner = self.runner
        if runner is not None and runner.pid == os.getpid():
            return runner
        with _start_lock:
            if self.runner is None or self.runner.pid != os.getpid():
                self.runner = Runner(self.store, self.config)
                if self.config["RUN_JOBS"]:
                    self.runner.start()
            return self.runner

    def close(self):
        if self.runner is not None and self.runner.pid == os.getpid():
            self.runner.stop(kill_children=True)


def init_app(app):
    app.extensions["nn"] = Resources(app)
    app.before_request(lambda: _resources().ensure_runner() and None)


def _resources():
    return current_app.extensions["nn"]


def get_store():
    return _resources().store


def get_predictor():
    return _resources().predictor


def get_runner():
    return _resources().ensure_runner()


def get_openapi():
    """The OpenAPI document of this app, built once (it depends on the configured limits)."""
    resources = _resources()
    if resources.openapi is None:
        from . import openapi
        resources.openapi = openapi.build(current_app.config)
    return resources.openapi

