"""Real gunicorn on a free loopback port with a temporary model directory, driven by requests."""
import glob
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from scripts.server import Server as RealServer
from service.store import try_lock_file

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
            assert time.monotonic() < deadline, (f"model {model_id} stuck in {body['status']}:\n"
                                                 + self.log_text() + "\n" + _store_state(self.model_dir))
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


def _store_state(model_dir):
    """Statuses, attempts and lock holders of every job, for a failure message."""
    lines = []
    for name in sorted(os.listdir(model_dir)):
        record_path = os.path.join(model_dir, name, "model.json")
        if os.path.exists(record_path):
            import json
            record = json.load(open(record_path))
            lines.append(f"{name} {record.get('status')} attempts={record.get('attempts')} "
                         f"owner={record.get('owner')} progress={record.get('progress')}")
    out = subprocess.run(["pgrep", "-fa", "service.trainjob"], capture_output=True, text=True).stdout
    active = sorted(os.listdir(os.path.join(model_dir, ".active"))) if os.path.isdir(
        os.path.join(model_dir, ".active")) else []
    slots = []
    for slot in sorted(glob.glob(os.path.join(model_dir, ".slots", "*"))):
        fd = try_lock_file(slot, create=False)
        slots.append(f"{os.path.basename(slot)}: {'free' if fd is not None else 'held'}")
        if fd is not None:
            os.close(fd)
    return ("\n".join(lines) + f"\nactive markers: {active}\nslots: {slots}\ntraining processes:\n" + out)


def trainers(model_dir):
    out = subprocess.run(["pgrep", "-f", f"service.trainjob {model_dir}"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def server(make_server):
    return make_server()
