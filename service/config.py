"""Settings, read from environment variables, each with a documented default.

``create_app(config)`` starts from ``from_env()`` and applies ``config`` on top, so tests can
override any setting without touching the environment.
"""
import os


def _int(name, default):
    return int(os.environ.get(name, default))


def _float(name, default):
    return float(os.environ.get(name, default))


def from_env():
    cpus = os.cpu_count() or 1
    return {
        # -- storage ---------------------------------------------------------------------
        # Where models live: a directory per model id (metadata JSON, weights .npz, data).
        "MODEL_DIR": os.environ.get("NN_MODEL_DIR", "./var/models"),
        # -- training jobs ---------------------------------------------------------------
        # Jobs training at once across all workers of one store; more wait as `queued`.
        "MAX_CONCURRENT_JOBS": _int("NN_MAX_CONCURRENT_JOBS", cpus),
        # Wall-clock limit of one job, in seconds, unless the job sets a lower `max_seconds`.
        "MAX_TRAIN_SECONDS": _float("NN_MAX_TRAIN_SECONDS", 3600),
        # How many times a job is started before a crash of its process makes it `failed`.
        "MAX_ATTEMPTS": _int("NN_MAX_ATTEMPTS", 3),
        # How often each worker's runner looks for queued jobs and dead runners, in seconds.
        "POLL_SECONDS": _float("NN_POLL_SECONDS", 0.5),
        # A training process that holds its job's lock but has not touched its heartbeat file
        # for this many seconds is hung: its runner kills it and the job is recovered.
        "LEASE_SECONDS": _float("NN_LEASE_SECONDS", 30),
        # Longest `POST /train?wait=` a client may ask for; keep well below gunicorn's timeout.
        "MAX_WAIT_SECONDS": _float("NN_MAX_WAIT_SECONDS", 20),
        # BLAS threads of one training process; unset: the cores shared among concurrent jobs
        # (CPUs / MAX_CONCURRENT_JOBS, at least 1).
        "TRAINER_THREADS": _int("NN_TRAINER_THREADS", 0) or None,
        # Scheduling priority of training processes (added niceness): requests come first.
        "TRAINER_NICE": _int("NN_TRAINER_NICE", 10),
        # Start a job runner in each web worker process (off only for special deployments).
        "RUN_JOBS": os.environ.get("NN_RUN_JOBS", "1") not in ("0", "false", "no"),
        # -- access ------------------------------------------------------------------------
        # When set, every endpoint but /healthz requires `Authorization: Bearer <token>`.
        "API_TOKEN": os.environ.get("NN_API_TOKEN") or None,
        # -- request limits --------------------------------------------------------------
        # Largest request body accepted, in bytes (413 beyond). Parsing JSON takes about 30 times
        # its size in memory, so this bounds a request's memory too.
        "MAX_CONTENT_LENGTH": _int("NN_MAX_BODY_BYTES", 8 * 1024 * 1024),
        # A client that stops sending its body for this long gets a 408 (its thread back).
        "BODY_TIMEOUT_SECONDS": _float("NN_BODY_TIMEOUT_SECONDS", 10),
        # Rows of X (and Y) in one /train or /predict request, or generated samples.
        "MAX_ROWS": _int("NN_MAX_ROWS", 100_000),
        # Input or output columns.
        "MAX_FEATURES": _int("NN_MAX_FEATURES", 1_000),
        # Hidden layers, and units in one hidden layer.
        "MAX_LAYERS": _int("NN_MAX_LAYERS", 20),
        "MAX_UNITS": _int("NN_MAX_UNITS", 4_096),
        # Weights and biases of one network.
        "MAX_PARAMETERS": _int("NN_MAX_PARAMETERS", 5_000_000),
        # Parameter updates of one job.
        "MAX_ITERATIONS": _int("NN_MAX_ITERATIONS", 1_000_000),
        # Compute budget of one job: rows per update x parameters x iterations.
        "MAX_COMPUTE": _float("NN_MAX_COMPUTE", 1e13),
        # Memory budget of one training process, in bytes, as estimated from the data and the
        # network (activation buffers for all rows, parameters, optimizer state).
        "MAX_JOB_MEMORY": _float("NN_MAX_JOB_MEMORY", 2 * 1024 ** 3),
    }
