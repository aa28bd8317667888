"""Prediction latency while jobs train, against idle latency, on the real service.

    .venv/bin/python bench/latency.py [--requests N]

Starts gunicorn (2 workers) on a free loopback port with a temporary store, trains a small
model, then times sequential POST /predict calls: first with nothing else running, then while
two CPU-heavy training jobs run. Prints percentiles and their ratios. Timings, not asserts: the
machine is shared and noisy.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.server import Server  # noqa: E402

HEAVY_JOB = {"hidden_layer_sizes": [256, 256], "iterations": 40_000, "patience": None, "batch_size": None,
             "generate": {"n_samples": 4000, "seed": 0}, "seed": 0, "name": "load"}


def percentiles(samples):
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "mean": statistics.fmean(ordered)}


def time_predictions(session, url, model_id, n):
    body = {"model_id": model_id, "X": [[x / 10] for x in range(-30, 31)]}
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = session.post(url + "/predict", json=body, timeout=30)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return percentiles(samples)


def wait_status(session, url, model_id, statuses, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = session.get(f"{url}/models/{model_id}", timeout=10).json()["status"]
        if status in statuses:
            return status
        time.sleep(0.1)
    raise RuntimeError(f"model {model_id} never reached {statuses}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="predictions timed per phase")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nn-latency-") as workdir, requests.Session() as session:
        server = Server(Path(workdir) / "models", Path(workdir) / "gunicorn.log", workers=2,
                        env={"NN_ACCESS_LOG": "/dev/null"})
        with server:
            url = server.url
            model = session.post(url + "/train?wait=20", json={"iterations": 500, "seed": 0}, timeout=30).json()
            assert model["status"] == "succeeded", model
            time_predictions(session, url, model["id"], 20)  # warm the cache of both workers
            idle = time_predictions(session, url, model["id"], args.requests)

            jobs = [session.post(url + "/train", json=HEAVY_JOB, timeout=30).json()["id"] for _ in range(2)]
            for job in jobs:
                wait_status(session, url, job, {"running"})
            time.sleep(1.0)
            busy = time_predictions(session, url, model["id"], args.requests)
            for job in jobs:
                session.post(f"{url}/models/{job}/cancel", timeout=30)

    print(f"POST /predict (61 rows), {args.requests} sequential requests per phase, 2 gunicorn workers")
    print(f"{'':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for label, stats in (("idle", idle), ("two jobs training", busy)):
        print(f"{label:<26}" + "".join(f"{stats[k]:9.2f}" for k in ("p50", "p95", "p99", "mean")))
    print(f"{'ratio (training / idle)':<26}" + "".join(f"{busy[k] / idle[k]:9.2f}" for k in ("p50", "p95", "p99", "mean")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
