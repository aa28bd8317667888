"""Real gunicorn on a free loopback port with a temporary model directory, driven by requests."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from scripts.server import Server as RealServer

TERMINAL = {"succeeded", "failed", "cancelled"}


class Server(RealServer):
    """The real service (scripts/server.py), with two workers and a few client helpers."""

    def __init__(self, model_dir, log_path, workers=2, extra_args=(), env=None):
        super().__init__(model_dir, log_path, workers=workers, extra_args=extra_args,
                         env={"NN_POLL_SECONDS": "0.2", **(env or {})})
        self.log_path = Path(log_path)

    def log_text(self):
        return self.log_tail(100)

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=10, **kw)

    def post(self, path, **kw):
        return requests.post(self.url + path, timeout=10, **kw)

    def delete(self, path, **kw):
        return requests.delete(self.url + path, timeout=10, **kw)

    def wait_for(self, model_id, statuses=TERMINAL, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(f"/models/{model_id}").json()
            if body["status"] in statuses:
                return body
            assert time.monotonic() < deadline, f"model {model_id} stuck in {body['status']}"
            time.sleep(0.1)


@pytest.fixture
def model_dir(tmp_path):
    path = tmp_path / "models"
    path.mkdir()
    return path


@pytest.fixture
def make_server(tmp_path, model_dir):
    servers = []

    def make(**kwargs):
        started = Server(model_dir, tmp_path / "gunicorn.log", **kwargs)
        servers.append(started)
        return started.start()

    yield make
    for started in servers:
        started.stop()
    # a server that is gone leaves no training process behind for long
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and trainers(model_dir):
        time.sleep(0.2)
    for pid in trainers(model_dir):
        os.kill(pid, signal.SIGKILL)


def trainers(model_dir):
    out = subprocess.run(["pgrep", "-f", f"service.trainjob {model_dir}"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def server(make_server):
    return make_server()
