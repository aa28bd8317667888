"""Training jobs: accepting them, and running them in the background.

Accepting (``submit``) validates what the schema cannot (parameter and compute limits),
resolves every default, and persists the job as ``queued`` (record and data) before the
request is answered.

Running: every web worker process has a ``Runner``, a thread started after the fork (on the
first request, or by gunicorn's ``post_worker_init`` hook), never at import. A runner claims
queued jobs through the store's locks and trains each in a child process of its own
(``python -m service.trainjob``), so training never holds a web worker's GIL, is killable, and
outlives the worker that started it (recycling a worker does not interrupt a job). Claiming
takes two ``flock`` locks that the child inherits and holds until it exits: one of
``MAX_CONCURRENT_JOBS`` slot locks, shared by all runners of the store, and the job's own lock.
The kernel releases both when the child dies, however it dies, so a job whose record says
``running`` but whose lock is free has lost its runner: it goes back to the queue, until it
has been started ``MAX_ATTEMPTS`` times.
"""
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time

import numpy as np
from marshmallow import ValidationError

from nn import TrainConfig, data as nn_data
from nn.initializers import default_for
from nn.trainer import TRAINING_FIELDS, validation_rows

from .schemas import GenerateSchema, preset_defaults
from .store import TERMINAL, NotFound, now, try_lock_file

log = logging.getLogger(__name__)
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- accepting -----------------------------------------------------------------------------

def memory_estimate(sizes, n_samples, n_params, dtype):
    """Bytes a training process needs, roughly: three activation-sized buffers per hidden unit
    and row (activations, error signals, scratch) over all rows at once (the final evaluation),
    the data in float64 and in the training dtype (twice, for shuffled copies), and five
    parameter-sized vectors (parameters, gradients, optimizer state, best weights)."""
    width = np.dtype(dtype).itemsize
    hidden, edges = sum(sizes[1:-1]), sizes[0] + 1 + sizes[-1]
    return (3 * hidden * n_samples * width + edges * n_samples * (8 + 2 * width)
            + 5 * n_params * width)


def _limits_check(config, sizes, n_samples, rows_per_update, iterations, dtype):
    if iterations > config["MAX_ITERATIONS"]:  # the preset's default too, not only a given value
        raise ValidationError({"iterations": [
            f"At most {config['MAX_ITERATIONS']} iterations (NN_MAX_ITERATIONS)."]})
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > config["MAX_PARAMETERS"]:
        raise ValidationError({"hidden_layer_sizes": [
            f"The network would have {n_params} parameters; the limit is {config['MAX_PARAMETERS']} "
            "(NN_MAX_PARAMETERS)."]})
    compute = rows_per_update * n_params * iterations
    if compute > config["MAX_COMPUTE"]:
        raise ValidationError({"iterations": [
            f"The job would cost {compute:.3g} (rows per update x parameters x iterations); the limit "
            f"is {config['MAX_COMPUTE']:.3g} (NN_MAX_COMPUTE). Use fewer iterations, a smaller network "
            "or smaller batches."]})
    memory = memory_estimate(sizes, n_samples, n_params, dtype)
    if memory > config["MAX_JOB_MEMORY"]:
        raise ValidationError({"hidden_layer_sizes": [
            f"Training this network on {n_samples} rows would take about {memory / 2 ** 20:.0f} MiB; "
            f"the limit is {config['MAX_JOB_MEMORY'] / 2 ** 20:.0f} MiB (NN_MAX_JOB_MEMORY). Use fewer "
            "rows or a smaller network."]})
    return n_params


def _check_magnitudes(X, Y, source):
    """Refuse data whose statistics overflow float64: it could never train to anything finite."""
    where = "data" if source == "supplied" else "generate"
    for name, array in (("X", X), ("Y", Y)):
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(array).all() and np.isfinite(np.std(array, axis=0)).all() \
                and np.isfinite(np.square(array - array.mean(axis=0)).sum())
        if not finite:
            field = {where: {name: ["Values are so large that their squares overflow a 64-bit float; "
                                    "rescale them."]}} if where == "data" else \
                {where: ["The generated values overflow a 64-bit float; use a smaller x range or noise_std."]}
            raise ValidationError(field)


def build_job(request, config):
    """Turn a validated /train request into (record, X, Y) with every default resolved."""
    defaults = preset_defaults(request["preset"])
    training = {name: request.get(name, defaults[name]) for name in TRAINING_FIELDS}
    if training["seed"] is None:
        training["seed"] = secrets.randbelow(2 ** 32)  # recorded, so every run can be repeated
    activation = request["activation"]
    init = request.get("init") or defaults["init"] or default_for(activation)

    if "data" in request:
        X, Y = request["data"]["X"], request["data"]["Y"]
        data_info = {"source": "supplied"}
    else:
        generate = request.get("generate") or GenerateSchema().load({})
        if generate["seed"] is None:  # the run's seed: one number repeats the whole run
            generate = dict(generate, seed=training["seed"])
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            X, Y = nn_data.quadratic(**generate)
        data_info = {"source": "generated", "generator": "quadratic", **generate}
    data_info.update(n_samples=len(X), n_features=X.shape[1], n_outputs=Y.shape[1])
    _check_magnitudes(X, Y, data_info["source"])

    hidden = list(request["hidden_layer_sizes"])
    sizes = [X.shape[1], *hidden, Y.shape[1]]
    n_train = len(X) - validation_rows(len(X), training["validation_fraction"])
    rows = n_train if training["batch_size"] is None else min(training["batch_size"], n_train)
    n_params = _limits_check(config, sizes, len(X), max(rows, 1), training["iterations"], request["dtype"])
    try:
        TrainConfig(**training)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None

    model_id = secrets.token_hex(16)
    record = {
        "id": model_id, "name": request.get("name"), "status": "queued",
        "created_at": now(), "started_at": None, "finished_at": None, "attempts": 0,
        "architecture": {"input_size": sizes[0], "hidden_layer_sizes": hidden, "output_size": sizes[-1],
                         "hidden_activation": activation, "output_activation": "identity",
                         "n_parameters": n_params},
        "hyperparameters": {"preset": request["preset"], "init": init, "dtype": request["dtype"],
                            **training,
                            "max_seconds": request.get("max_seconds", config["MAX_TRAIN_SECONDS"])},
        "data": data_info,
        "progress": {"iteration": 0, "iterations": training["iterations"], "loss": None,
                     "elapsed_seconds": None, "eta_seconds": None},
        "loss": None, "val_loss": None, "loss_history": [], "val_loss_history": [],
        "training": None, "diagnostics": None, "error": None,
    }
    return record, X, Y


def submit(store, config, request):
    record, X, Y = build_job(request, config)
    store.create(record, X, Y)
    return record


def with_queue_positions(store, records):
    """Records as the API shows them: queued jobs get their position in the queue."""
    if any(r.get("status") == "queued" for r in records):
        queue = [r for r in store.active_records() if r.get("status") == "queued"]
        position = {r["id"]: i + 1 for i, r in enumerate(queue)}
        records = [dict(r, progress=dict(r.get("progress") or {}, queue_position=position.get(r["id"])))
                   if r.get("status") == "queued" else r for r in records]
    return records


def wait_until_finished(store, model_id, seconds, interval=0.05):
    """The record once the job is finished, or as it is after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        record = store.read(model_id)
        if record.get("status") in TERMINAL or time.monotonic() >= deadline:
            return record
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def cancel(store, model_id, wait=2.0):
    """Cancel a queued or running job; returns its record (``cancelled`` unless it finished
    first, or still ``running`` if its process has not stopped within ``wait`` seconds)."""
    record = store.read(model_id)
    if record.get("status") in TERMINAL:
        return record
    store.request_cancel(model_id)  # a running job's process sees this within 0.2 s
    if record.get("status") == "queued":
        with store.locked(model_id, timeout=1.0) as held:
            if held:
                record = store.read(model_id)
                if record["status"] == "queued":
                    record.update(status="cancelled", finished_at=now())
                    store.write(record)
                    return record
    return wait_until_finished(store, model_id, wait)


# -- running -------------------------------------------------------------------------------

def _slot_paths(store, n):
    directory = os.path.join(store.root, ".slots")
    os.makedirs(directory, exist_ok=True)
    return [os.path.join(directory, f"slot-{k}.lock") for k in range(n)]


class Runner:
    """Claims queued jobs and starts a training process for each; recovers orphaned jobs."""

    def __init__(self, store, config):
        self.store, self.config = store, config
        self.pid = os.getpid()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._children = {}  # model id -> Popen of the training processes this runner started
        self._thread = threading.Thread(target=self._loop, name="nn-job-runner", daemon=True)
        self._ticks = 0

    def start(self):
        self._thread.start()
        return self

    def wake(self):
        self._wake.set()

    def stop(self, kill_children=False, timeout=5.0):
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        if kill_children:
            for child in self._children.values():
                if child.poll() is None:
                    child.kill()
            for child in self._children.values():
                child.wait(timeout)

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a runner must survive anything one pass throws
                log.exception("job runner pass failed")
            self._wake.wait(self.config["POLL_SECONDS"])
            self._wake.clear()

    def tick(self):
        """One pass: reap children, recover dead jobs, start queued ones while slots are free."""
        self._children = {i: c for i, c in self._children.items() if c.poll() is None}  # reaps
        self._ticks += 1
        if self._ticks % 60 == 1:  # at start, then now and then: cheap insurance, whole store
            self.store.reconcile_active()
        if self._ticks % 120 == 1:
            self.store.sweep()
        records = self.store.active_records()
        for record in records:
            if record.get("status") == "running":
                self._recover(record)
        queued = [r for r in records if r.get("status") == "queued"]
        slots = _slot_paths(self.store, self.config["MAX_CONCURRENT_JOBS"])
        for record in queued:
            if self._stop.is_set():
                break
            slot = self._free_slot(slots)
            if slot is None:
                break
            try:
                self._start(record["id"], slot)
            finally:
                os.close(slot)  # a started child holds its own copy of the slot lock

    @staticmethod
    def _free_slot(slots):
        for path in slots:
            fd = try_lock_file(path)
            if fd is not None:
                return fd
        return None

    def _recover(self, record):
        """A ``running`` job whose lock is free has lost its process: requeue or fail it.
        One whose process holds the lock but missed its heartbeat lease is hung: kill it (it
        is recovered on a later pass, once the kernel has released its lock)."""
        model_id = record["id"]
        try:
            fd = self.store.try_lock(model_id)
        except NotFound:
            return
        if fd is None:
            self._enforce_lease(record)
            return
        try:
            record = self.store.read(model_id)
            if record.get("status") != "running":
                return
            attempts = record.get("attempts", 0)
            if attempts >= self.config["MAX_ATTEMPTS"]:
                record.update(status="failed", finished_at=now(),
                              error=f"The training process died {attempts} times (last during "
                                    f"iteration {record['progress'].get('iteration')}); giving up.")
            else:
                record.update(status="queued")
            record.pop("owner", None)
            self.store.write(record)
            log.warning("job %s lost its training process; now %s", model_id, record["status"])
        except Exception:
            log.exception("could not recover job %s", model_id)
        finally:
            os.close(fd)

    def _enforce_lease(self, record):
        """Kill a training process of ours that holds its job but has stopped beating (frozen).
        Only our own children: their pids cannot have been reused while we have not reaped them."""
        child = self._children.get(record["id"])
        if child is None or child.poll() is not None:
            return
        age = self.store.heartbeat_age(record["id"])
        if age is not None and age > self.config["LEASE_SECONDS"]:
            log.warning("job %s: no heartbeat for %.0f s; killing its process %d", record["id"], age, child.pid)
            child.kill()

    def _start(self, model_id, slot_fd):
        try:
            fd = self.store.try_lock(model_id)
        except NotFound:
            return False
        if fd is None:
            return False  # another runner has it
        try:
            record = self.store.read(model_id)
            if record.get("status") != "queued":
                return False
            if self.store.cancel_requested(model_id):
                record.update(status="cancelled", finished_at=now())
                self.store.write(record)
                return False
            record.update(status="running", started_at=now(), attempts=record.get("attempts", 0) + 1,
                          owner={"host": socket.gethostname(), "runner_pid": self.pid})
            self.store.write(record)
            self.store.beat(model_id)  # the lease starts now, not at a previous attempt's last beat
            threads = str(self.config["TRAINER_THREADS"] or max(
                1, (os.cpu_count() or 1) // max(1, self.config["MAX_CONCURRENT_JOBS"])))
            env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
                       MKL_NUM_THREADS=threads, PYTHONPATH=os.pathsep.join(
                           p for p in (PROJECT_ROOT, os.environ.get("PYTHONPATH")) if p))
            server_pid = os.getppid() if self.config.get("SERVER_IS_PARENT") else os.getpid()
            child = subprocess.Popen(
                [sys.executable, "-m", "service.trainjob", self.store.root, model_id,
                 "--server-pid", str(server_pid), "--nice", str(self.config["TRAINER_NICE"]),
                 "--heartbeat", str(min(2.0, self.config["LEASE_SECONDS"] / 5))],
                pass_fds=(fd, slot_fd), env=env, cwd=PROJECT_ROOT, start_new_session=True,
                stdin=subprocess.DEVNULL)
            self._children[model_id] = child
            log.info("job %s started in process %d", model_id, child.pid)
            return True
        except NotFound:
            return False
        except Exception as exc:
            log.exception("could not start job %s", model_id)
            try:
                record = self.store.read(model_id)
                record.update(status="failed", finished_at=now(), error=f"could not start: {exc}")
                self.store.write(record)
            except Exception:
                pass
            return False
        finally:
            os.close(fd)  # the child holds its own copy of the lock now

