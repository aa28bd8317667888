"""`make demo`: train the reference network over HTTP, predict with it, and plot the results.

Starts the real service (gunicorn) on a free loopback port with a temporary model directory,
trains the reference recipe (full-batch gradient descent, lr 0.01, 10,000 iterations, a
1-[10,10]-1 network) on generated quadratic data y = x^2 - 2 + N(0, 2^2), polls the job until
it finishes, predicts a few points, writes output/data.png, output/results.png and
output/loss.png, and stops the server, whatever happens.

    .venv/bin/python scripts/demo.py
"""
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `nn` imports even without an editable install

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter  # noqa: E402
import numpy as np  # noqa: E402
import requests  # noqa: E402

from nn.data import quadratic, true_quadratic  # noqa: E402
from scripts.server import Server, ServerError  # noqa: E402

OUTPUT = ROOT / "output"
GENERATE = {"n_samples": 200, "x_min": -3.0, "x_max": 3.0, "noise_std": 2.0, "seed": 0}
TRAIN_REQUEST = {"name": "reference quadratic", "preset": "reference", "seed": 0, "generate": GENERATE}
TABLE_X = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
CURVE_POINTS = 300

STARTUP_SECONDS = 30  # for the server to answer /healthz
TRAIN_SECONDS = 300  # for the job to finish
POLL_SECONDS = 0.25  # how often the job is polled
PRINT_SECONDS = 0.5  # at most two progress lines a second
REQUEST_SECONDS = 30  # per HTTP request
TERMINAL = ("succeeded", "failed", "cancelled")


class DemoError(Exception):
    """Something went wrong; the message says what, for the person running the demo.
    `show_log`: whether the server's log helps explain it."""

    def __init__(self, message, show_log=True):
        super().__init__(message)
        self.show_log = show_log


# -- the server ----------------------------------------------------------------------------

def start_server(workdir):
    """The real service on a free port, its access log silenced so the demo's output reads well."""
    server = Server(os.path.join(workdir, "models"), os.path.join(workdir, "gunicorn.log"),
                    env={"NN_ACCESS_LOG": "/dev/null"})
    print(f"Starting the service (gunicorn; its log: {server.log_path})")
    try:
        server.start(timeout=STARTUP_SECONDS)
    except ServerError as exc:
        raise DemoError(str(exc).splitlines()[0]) from None
    print(f"The service is up at {server.url}.\n")
    return server


# -- the API -------------------------------------------------------------------------------

def call(session, method, url, expected, **kwargs):
    """One request; a DemoError naming the problem unless the status is `expected`."""
    try:
        response = session.request(method, url, timeout=REQUEST_SECONDS, **kwargs)
    except requests.RequestException as exc:
        raise DemoError(f"{method} {url} failed: {exc}") from None
    if response.status_code != expected:
        try:
            problem = response.json()
            detail = problem.get("detail", "")
            if problem.get("errors"):
                detail += f" {problem['errors']}"
        except ValueError:
            detail = response.text[:500]
        raise DemoError(f"{method} {url} answered {response.status_code}: {detail}")
    return response


def submit(session, base_url):
    response = call(session, "POST", f"{base_url}/train", 202, json=TRAIN_REQUEST)
    model = response.json()
    location = urljoin(base_url + "/", response.headers["Location"])
    print(f"Training the reference network on {GENERATE['n_samples']} generated points "
          f"(y = x^2 - 2 + N(0, {GENERATE['noise_std']:g}^2), x in [{GENERATE['x_min']:g}, {GENERATE['x_max']:g}]).")
    print(f"  model id: {model['id']}")
    print(f"  location: {location}")
    return model, location


def progress_line(model):
    progress = model.get("progress") or {}
    if model["status"] == "queued":
        return f"  queued (position {progress.get('queue_position')})"
    text = f"  {model['status']:<9} iteration {progress.get('iteration', 0):>6,}/{progress.get('iterations', 0):,}"
    if progress.get("loss") is not None:
        loss = progress["loss"]
        text += f"   loss {loss:8.4f}" if abs(loss) < 1e4 else f"   loss {loss:8.2e}"
    if progress.get("elapsed_seconds") is not None:
        text += f"   elapsed {progress['elapsed_seconds']:5.1f} s"
    if progress.get("eta_seconds") is not None:
        text += f"   eta {progress['eta_seconds']:5.1f} s"
    return text


def wait_for(session, location):
    """Poll the model until its status is terminal, printing its progress as it changes."""
    deadline = time.monotonic() + TRAIN_SECONDS
    last_line, last_print = None, -1e9
    while True:
        model = call(session, "GET", location, 200).json()
        line = progress_line(model)
        done = model["status"] in TERMINAL
        now = time.monotonic()
        if line != last_line and (done or now - last_print >= PRINT_SECONDS):
            print(line)
            last_line, last_print = line, now
        if done:
            return model
        if now > deadline:
            raise DemoError(f"training did not finish within {TRAIN_SECONDS:g} s "
                            f"(last seen: {' '.join(line.split())}).")
        time.sleep(POLL_SECONDS)


def train(session, base_url):
    model, location = submit(session, base_url)
    try:
        model = wait_for(session, location)
    except BaseException:
        # Deleting a job cancels it and waits for its training process to exit, so an error or
        # Ctrl-C here leaves nothing training behind.
        with contextlib.suppress(Exception):
            session.delete(location, timeout=10)
        raise
    if model["status"] != "succeeded":
        raise DemoError(f"training {model['status']}: {model.get('error') or 'no error message'}", show_log=False)
    return model


def predict(session, base_url, model_id, x):
    body = {"model_id": model_id, "X": [[float(v)] for v in x]}
    predictions = call(session, "POST", f"{base_url}/predict", 200, json=body).json()["predictions"]
    return np.array([row[0] for row in predictions])


# -- the report ----------------------------------------------------------------------------

def print_table(x, predicted):
    truth = true_quadratic(x)
    print(f"\n{'x':>6}  {'prediction':>10}  {'x^2 - 2':>8}  {'difference':>10}")
    for xi, pi, ti in zip(x, predicted, truth):
        print(f"{xi:6.2f}  {pi:10.3f}  {ti:8.3f}  {pi - ti:+10.3f}")


def print_loss(model, X, Y):
    floor = GENERATE["noise_std"] ** 2 / 2
    true_curve = float(np.mean((Y - true_quadratic(X)) ** 2) / 2)
    training = model.get("training") or {}
    print(f"\nFinal training loss (sum of squared errors / 2m): {model['loss']:.4f}"
          f" after {training.get('iterations_run', '?'):,} iterations in {training.get('seconds', 0):.1f} s.")
    print(f"The noise floor is noise_std^2/2 = {floor:g}; the true curve itself scores {true_curve:.4f} "
          f"on these {len(X)} points.")


def plot_data(X, Y, path):
    x_line = np.linspace(GENERATE["x_min"], GENERATE["x_max"], CURVE_POINTS)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(X[:, 0], Y[:, 0], s=14, alpha=0.6, label=f"training data ({len(X)} points)")
    ax.plot(x_line, true_quadratic(x_line), color="black", linestyle="--", label="true curve $x^2 - 2$")
    ax.set(xlabel="x", ylabel="y", title=f"Generated data: $y = x^2 - 2 + N(0, {GENERATE['noise_std']:g}^2)$")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_results(X, Y, x_line, fitted, path):
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(X[:, 0], Y[:, 0], s=14, alpha=0.4, label="training data")
    ax.plot(x_line, true_quadratic(x_line), color="black", linestyle="--", label="true curve $x^2 - 2$")
    ax.plot(x_line, fitted, color="tab:red", linewidth=2, label="network prediction (/predict)")
    ax.set(xlabel="x", ylabel="y", title="Reference network 1-[10,10]-1 after 10,000 GD iterations")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_loss(model, path):
    history = model["loss_history"]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot([p["iteration"] for p in history], [p["loss"] for p in history], label="training loss")
    ax.axhline(GENERATE["noise_std"] ** 2 / 2, color="gray", linestyle=":", label="noise floor $\\sigma^2/2 = 2$")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.set(xlabel="iteration", ylabel="loss (SSE / 2m, log scale)", title="Training loss")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- main ----------------------------------------------------------------------------------

def run(workdir, session):
    server = start_server(workdir)
    try:
        report(server, session)
    finally:
        server.stop()
        print("Server stopped.")


def report(server, session):
    model = train(session, server.url)

    x_table = np.array(TABLE_X)
    print_table(x_table, predict(session, server.url, model["id"], x_table))
    # The same generator and seed as the server's, so these are exactly the training data.
    X, Y = quadratic(**GENERATE)
    print_loss(model, X, Y)

    x_line = np.linspace(GENERATE["x_min"], GENERATE["x_max"], CURVE_POINTS)
    fitted = predict(session, server.url, model["id"], x_line)
    OUTPUT.mkdir(exist_ok=True)
    plot_data(X, Y, OUTPUT / "data.png")
    plot_results(X, Y, x_line, fitted, OUTPUT / "results.png")
    plot_loss(model, OUTPUT / "loss.png")
    print(f"\nWrote {', '.join(os.path.relpath(OUTPUT / n) for n in ('data.png', 'results.png', 'loss.png'))}.")


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # so the `finally` below stops the server


def main():
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows at once, even through a pipe
    with tempfile.TemporaryDirectory(prefix="nn-demo-") as workdir, requests.Session() as session:
        try:
            run(workdir, session)
        except DemoError as exc:
            print(f"\nDemo failed: {exc}", file=sys.stderr)
            log = os.path.join(workdir, "gunicorn.log")
            tail = _tail(log) if exc.show_log else ""
            if tail:
                print(f"\nLast lines of the server log ({log}):\n{tail}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nInterrupted.", file=sys.stderr)
            return 130
    return 0


def _tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
