"""gunicorn settings for nn-service: plain assignments, each read from the environment.

Start:  gunicorn --config deploy/gunicorn.conf.py service.wsgi:app
`--bind` and `--workers` on the command line override what is set here.
"""
import os

# -- server socket -----------------------------------------------------------------------
# Where to listen. Loopback by default; the container binds 0.0.0.0.
bind = os.environ.get("NN_BIND", "127.0.0.1:8000")

# -- worker processes --------------------------------------------------------------------
# Web workers. Each answers any request for any model (state lives on disk) and runs a job
# runner that starts training processes; two workers keep one free while the other is busy.
workers = int(os.environ.get("NN_WORKERS", "2"))
# Threads per worker: a few, so that clients waiting on `POST /train?wait=` or slow uploads do
# not block everyone else. Requests are short and mostly I/O (disk, sockets); the training
# itself happens in separate processes.
worker_class = "gthread"
threads = int(os.environ.get("NN_THREADS", "4"))
# Seconds a worker may go silent before the master kills and replaces it. With threaded
# workers this watches the worker's main loop, not single requests: request bodies are bounded
# by NN_BODY_TIMEOUT_SECONDS, `?wait=` by NN_MAX_WAIT_SECONDS, and training never runs in a
# request (jobs have their own processes).
timeout = int(os.environ.get("NN_TIMEOUT", "30"))
# Seconds workers get to finish their requests on SIGTERM / restart.
graceful_timeout = int(os.environ.get("NN_GRACEFUL_TIMEOUT", "10"))
# Recycle a worker after this many requests (0 = never); jobs survive recycling.
max_requests = int(os.environ.get("NN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("NN_MAX_REQUESTS_JITTER", "0"))

# -- logging -----------------------------------------------------------------------------
accesslog = os.environ.get("NN_ACCESS_LOG", "-")  # "-" is stdout
errorlog = os.environ.get("NN_ERROR_LOG", "-")
loglevel = os.environ.get("NN_LOG_LEVEL", "info")

# -- CPU ---------------------------------------------------------------------------------
# A web worker predicts with small matrix products, for which one BLAS thread is fastest and
# several workers with a BLAS pool each would oversubscribe the cores. Set before NumPy is
# imported (the app is imported after this file is read). Training processes get their own
# count (NN_TRAINER_THREADS).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("NN_WEB_THREADS", "1"))


# -- errors gunicorn answers itself ------------------------------------------------------
# Requests gunicorn cannot parse (a request line or headers too long, a broken Content-Length,
# garbage) never reach the app; gunicorn answers them with an HTML page. Answer them in the
# API's one error shape instead, RFC 9457 problem details.
def _problem_error(sock, status_int, reason, mesg):
    import json

    body = json.dumps({"type": "about:blank", "title": reason, "status": status_int,
                       "detail": f"The request could not be parsed: {mesg}"[:500]}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n")
    _util.write_nonblock(sock, head.encode("latin-1") + body)


import gunicorn.util as _util  # noqa: E402

_util.write_error = _problem_error


# -- hooks -------------------------------------------------------------------------------
def post_worker_init(worker):
    """Start this worker's job runner now (after the fork), not on its first request, so that
    queued jobs resume after a restart even before anyone asks."""
    app = worker.wsgi
    app.config["SERVER_IS_PARENT"] = True  # the job's server is the gunicorn master
    app.extensions["nn"].ensure_runner()


# gunicorn >= 25 opens a control socket in ~/.gunicorn by default; several servers on one
# machine (tests, demo) would share it. Nothing here uses it.
control_socket_disable = True
