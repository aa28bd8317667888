"""Real gunicorn on a free loopback port with a temporary model directory, driven by requests."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
# The same command the container runs (tests/test_deploy.py checks that they agree).
SERVER_COMMAND = ["gunicorn", "--config", "deploy/gunicorn.conf.py", "service.wsgi:app"]
TERMINAL = {"succeeded", "failed", "cancelled"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model_dir, log_path, workers=2, extra_args=(), env=None):
        self.model_dir, self.log_path = model_dir, log_path
        self.workers, self.extra_args, self.extra_env = workers, list(extra_args), env or {}
        self.process = None
        self.url = None

    def start(self, timeout=30):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, NN_MODEL_DIR=str(self.model_dir), NN_POLL_SECONDS="0.2",
                   PYTHONPATH=str(ROOT), **self.extra_env)
        command = [sys.executable, "-m", *SERVER_COMMAND, "--bind", f"127.0.0.1:{port}",
                   "--workers", str(self.workers), *self.extra_args]
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # its own group, to kill -9 whole
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not come up:\n{self.log_text()}")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def kill(self):
        """kill -9 of the whole server: the master and its workers at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log_text(self):
        return Path(self.log_path).read_text(errors="replace")[-4000:]

    # -- client helpers --------------------------------------------------------------------

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
        server = Server(model_dir, tmp_path / "gunicorn.log", **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
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
