"""Train one job: ``python -m service.trainjob <model_dir> <model_id> --server-pid PID``.

Started by a ``Runner`` with the job's lock (and a concurrency slot) already held on inherited
file descriptors; it holds them until it exits. It writes progress to the record at least once
half-second (whenever the trainer reports), watches for cancellation, the job's time limit and the server's exit, and publishes
the result atomically: the weights first, then the record that points at them.

When the server is gone (shut down, or killed) the job goes back to the queue, unless it is
nearly done, in which case it finishes first.
"""
import argparse
import logging
import os
import sys
import threading
import time

from nn import Network, TrainConfig, TrainingDiverged, train
from nn.trainer import TRAINING_FIELDS, check_interval

from .store import ModelStore, NotFound, now

PROGRESS_SECONDS = 0.5  # how often progress reaches the record
SERVER_CHECK_SECONDS = 1.0
FINISH_IF_LEFT_SECONDS = 5.0  # on server exit, finish a job with less than this left

log = logging.getLogger("service.trainjob")


def eta(iteration, iterations, elapsed):
    """Seconds left, extrapolated from the pace so far."""
    if not iteration or elapsed is None:
        return None
    return max(0.0, elapsed / iteration * (iterations - iteration))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Monitor:
    """The training callback: progress (and the loss history so far), cancellation, time limit,
    server liveness."""

    def __init__(self, store, record, server_pid):
        self.store, self.record, self.server_pid = store, record, server_pid
        self.iterations = record["hyperparameters"]["iterations"]
        self.check_every = check_interval(self.iterations)
        self.history = []  # the trainer's history points, as they come
        self.max_seconds = record["hyperparameters"]["max_seconds"]
        self.started = time.monotonic()
        self.last_write = self.last_server_check = -1e9
        self.reason = None  # why the callback stopped training

    def elapsed(self):
        return time.monotonic() - self.started

    def __call__(self, iteration, loss):
        clock = time.monotonic()
        elapsed = clock - self.started
        if iteration % self.check_every == 0 or iteration == self.iterations:
            self.history.append({"iteration": iteration, "loss": loss})  # a check's point
        if self.store.cancel_requested(self.record["id"]):
            self.reason = "cancelled"
            return True
        if elapsed > self.max_seconds:
            self.reason = "time_limit"
            return True
        if self.server_pid and clock - self.last_server_check >= SERVER_CHECK_SECONDS:
            self.last_server_check = clock
            left = eta(iteration, self.iterations, elapsed)
            if not _alive(self.server_pid) and (left is None or left > FINISH_IF_LEFT_SECONDS):
                self.reason = "server_gone"
                return True
        if clock - self.last_write >= PROGRESS_SECONDS:
            self.last_write = clock
            self.record["progress"] = {"iteration": iteration, "iterations": self.iterations,
                                       "loss": loss, "elapsed_seconds": round(elapsed, 3),
                                       "eta_seconds": eta(iteration, self.iterations, elapsed)}
            self.record["loss_history"] = self.history
            self.store.write(self.record)  # NotFound: the model was deleted; stop
        return False


class Heartbeat(threading.Thread):
    """Touches the job's heartbeat file every few seconds, even during long matrix products
    (NumPy releases the GIL there); the runner that started this process kills it when the
    heartbeat stops, that is when the whole process is frozen (a slow update is not)."""

    def __init__(self, store, model_id, interval):
        super().__init__(name="heartbeat", daemon=True)
        self.store, self.model_id, self.interval = store, model_id, interval
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                self.store.beat(self.model_id)
            except NotFound:
                return
            self.stopped.wait(self.interval)


def run(store, model_id, server_pid=None, heartbeat_seconds=2.0):
    heartbeat = Heartbeat(store, model_id, heartbeat_seconds)
    heartbeat.start()
    try:
        _run(store, model_id, server_pid)
    finally:
        heartbeat.stopped.set()


def _run(store, model_id, server_pid):
    record = store.read(model_id)
    if record.get("status") != "running":
        return  # not claimed for us (or cancelled meanwhile)
    record["owner"] = dict(record.get("owner") or {}, pid=os.getpid())
    store.write(record)
    hp, arch = record["hyperparameters"], record["architecture"]
    X, Y = store.load_data(model_id)
    network = Network(arch["input_size"], arch["hidden_layer_sizes"], arch["output_size"],
                      activation=arch["hidden_activation"], init=hp["init"], seed=hp["seed"],
                      dtype=hp["dtype"])
    config = TrainConfig(**{name: hp[name] for name in TRAINING_FIELDS})
    monitor = Monitor(store, record, server_pid)
    try:
        result = train(network, X, Y, config=config, callback=monitor)
    except TrainingDiverged as exc:
        return _finish(store, record, monitor, "failed", error=str(exc))

    if monitor.reason == "cancelled":
        return _finish(store, record, monitor, "cancelled")
    if monitor.reason == "time_limit":
        return _finish(store, record, monitor, "failed",
                       error=f"The job exceeded its time limit of {hp['max_seconds']:g} s (max_seconds) at "
                             f"iteration {result.iterations} of {hp['iterations']}; allow more time, or "
                             "use fewer iterations or a smaller network.")
    if monitor.reason == "server_gone":
        record.update(status="queued", attempts=max(0, record.get("attempts", 1) - 1))
        record.pop("owner", None)
        store.write(record)
        log.info("server gone: job %s returned to the queue", model_id)
        return

    sha256 = store.save_network(model_id, network, {"id": model_id})
    record.update(
        weights_sha256=sha256, loss=result.loss, val_loss=result.val_loss,
        loss_history=[{"iteration": i, "loss": v} for i, v in result.history],
        val_loss_history=[{"iteration": i, "loss": v} for i, v in result.val_history],
        training={"stopped": result.stopped, "iterations_run": result.iterations,
                  "epochs": result.epochs, "best_iteration": result.best_iteration,
                  "n_train": result.n_train, "n_validation": result.n_validation,
                  "final_learning_rate": result.learning_rate,
                  "seconds": round(monitor.elapsed(), 3)},
        diagnostics=result.diagnostics)
    record["progress"] = dict(record["progress"], iteration=result.iterations, loss=result.loss,
                              elapsed_seconds=round(monitor.elapsed(), 3), eta_seconds=0.0)
    _finish(store, record, monitor, "succeeded")


def _finish(store, record, monitor, status, error=None):
    record.pop("owner", None)
    record.update(status=status, finished_at=now(), error=error)
    if status != "succeeded":  # keep what was seen of the run; nothing is left to wait for
        record["loss_history"] = monitor.history
    record["progress"] = dict(record["progress"], elapsed_seconds=round(monitor.elapsed(), 3),
                              eta_seconds=0.0 if status == "succeeded" else None)
    store.write(record)
    log.info("job %s %s", record["id"], status)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("model_id")
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority by this much")
    parser.add_argument("--heartbeat", type=float, default=2.0, help="seconds between heartbeats")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)  # predictions in the web workers come first
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s [trainjob %(process)d] %(levelname)s %(message)s")
    store = ModelStore(args.model_dir)
    try:
        run(store, args.model_id, args.server_pid, args.heartbeat)
    except NotFound:
        log.info("job %s was deleted; stopping", args.model_id)
    except Exception as exc:
        log.exception("job %s crashed", args.model_id)
        try:
            record = store.read(args.model_id)
            record.pop("owner", None)
            record.update(status="failed", finished_at=now(), error=f"Training failed unexpectedly: {exc!r}")
            store.write(record)
        except Exception:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
