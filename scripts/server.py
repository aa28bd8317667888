"""Run the real service for a demo, a benchmark or a test: gunicorn on a free loopback port,
with the command the container runs, stopped in order afterwards.

    with Server(model_dir, log_path) as server:
        requests.get(server.url + "/healthz")
"""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
# The container's command (tests/test_deploy.py checks that they agree); --bind comes on top.
COMMAND = ["gunicorn", "--config", "deploy/gunicorn.conf.py", "service.wsgi:app"]


class ServerError(RuntimeError):
    pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving service.wsgi:app on 127.0.0.1:<free port>, models in ``model_dir``."""

    def __init__(self, model_dir, log_path, *, workers=None, extra_args=(), env=None):
        self.model_dir, self.log_path = str(model_dir), str(log_path)
        self.workers, self.extra_args, self.extra_env = workers, list(extra_args), dict(env or {})
        self.process = None
        self.url = None

    def start(self, timeout=30):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, NN_MODEL_DIR=self.model_dir, **self.extra_env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", *COMMAND, "--bind", f"127.0.0.1:{port}", *self.extra_args]
        if self.workers:
            command += ["--workers", str(self.workers)]
        with open(self.log_path, "ab") as log:
            # Its own session: Ctrl-C reaches only the caller, which stops the server in order,
            # and the whole group (master and workers) can be killed at once.
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerError(f"gunicorn exited with code {code} before it answered /healthz:\n"
                                  + self.log_tail())
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"gunicorn did not answer /healthz within {timeout} s:\n" + self.log_tail())
            time.sleep(0.1)

    def stop(self, timeout=15):
        """SIGTERM (graceful), then SIGKILL to the whole group if it has not exited in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """kill -9 of the whole server: the master and its workers at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
