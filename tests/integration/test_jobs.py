"""Jobs survive workers, restarts and crowds: real gunicorn, real processes, requests."""
import concurrent.futures
import hashlib
import os
import signal
import time


from .conftest import trainers

LONG = {"iterations": 1_000_000, "patience": None, "seed": 0}  # minutes: only ever interrupted
MEDIUM = {"iterations": 30_000, "patience": None, "seed": 0}  # a few seconds


def wait_until(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def weights_digest(model_dir, model_id):
    return hashlib.sha256((model_dir / model_id / "weights.npz").read_bytes()).hexdigest()


def test_twenty_jobs_at_once_all_succeed_each_run_once(server):
    def post(i):
        return server.post("/train", json={"iterations": 300, "seed": i, "name": f"job {i}"})

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert [r.status_code for r in responses] == [202] * 20
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == 20
    finished = [server.wait_for(i, timeout=180) for i in ids]
    summary = [(f["status"], f["attempts"], f["error"]) for f in finished]
    assert summary == [("succeeded", 1, None)] * 20, (summary, server.log_text())
    log = (server.log_path).read_text()  # each training process logs its outcome once
    assert [log.count(f"job {i} succeeded") for i in ids] == [1] * 20, server.log_text()


def test_queue_position_and_concurrency_bound(make_server):
    server = make_server(env={"NN_MAX_CONCURRENT_JOBS": "1"})
    first = server.post("/train", json=LONG).json()["id"]
    server.wait_for(first, {"running"})
    second = server.post("/train", json=LONG).json()["id"]
    third = server.post("/train", json=LONG).json()["id"]
    time.sleep(1.0)  # several runner passes: still only one may run
    assert server.get(f"/models/{second}").json()["progress"]["queue_position"] == 1
    assert server.get(f"/models/{third}").json()["progress"]["queue_position"] == 2
    running = server.get("/models?status=running").json()["models"]
    assert [m["id"] for m in running] == [first]
    progress = running[0]["progress"]
    assert progress["elapsed_seconds"] > 0 and progress["eta_seconds"] > 0
    for model_id in (first, second, third):
        assert server.post(f"/models/{model_id}/cancel").json()["status"] == "cancelled"


def test_cancel_within_a_second(server):
    model_id = server.post("/train", json=LONG).json()["id"]
    server.wait_for(model_id, {"running"})
    started = time.monotonic()
    response = server.post(f"/models/{model_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert time.monotonic() - started < 1.0
    assert server.post("/predict", json={"model_id": model_id, "X": [[1.0]]}).status_code == 409


def test_delete_while_training_leaves_nothing(server, model_dir):
    model_id = server.post("/train", json=LONG).json()["id"]
    server.wait_for(model_id, {"running"})
    assert server.delete(f"/models/{model_id}").status_code == 204
    assert server.get(f"/models/{model_id}").status_code == 404
    wait_until(lambda: not trainers(model_dir), 5, "the training process did not stop")
    time.sleep(0.5)
    assert not (model_dir / model_id).exists()
    assert [p for p in os.listdir(model_dir) if p not in (".slots", ".active")] == []
    assert os.listdir(model_dir / ".active") == []


def test_wait_parameter(server):
    quick = server.post("/train?wait=15", json={"iterations": 200, "seed": 0})
    assert quick.status_code == 201 and quick.json()["status"] == "succeeded"
    assert quick.headers["Location"] == f"/models/{quick.json()['id']}"
    slow = server.post("/train?wait=0.5", json=LONG)
    assert slow.status_code == 202 and slow.json()["status"] in ("queued", "running")
    assert server.post("/train?wait=3600", json={}).status_code == 422
    assert server.post("/train?wait=soon", json={}).status_code == 422
    server.post(f"/models/{slow.json()['id']}/cancel")


def test_time_limit_fails_the_job_with_the_reason(server):
    model_id = server.post("/train", json=dict(LONG, max_seconds=1)).json()["id"]
    body = server.wait_for(model_id, timeout=20)
    assert body["status"] == "failed" and "time limit" in body["error"] and "max_seconds" in body["error"]


def test_kill_9_of_the_server_then_restart_completes_the_job(make_server, model_dir):
    server = make_server()
    earlier = server.post("/train?wait=15", json={"iterations": 300, "seed": 5}).json()
    assert earlier["status"] == "succeeded"
    digest = weights_digest(model_dir, earlier["id"])
    before = server.post("/predict", json={"model_id": earlier["id"], "X": [[0.5]]}).json()

    model_id = server.post("/train", json=MEDIUM).json()["id"]
    server.wait_for(model_id, {"running"})
    server.kill()
    # the training process notices that its server is gone and puts the job back in the queue
    wait_until(lambda: not trainers(model_dir), 10, "training process outlived its server")

    server = make_server()
    body = server.wait_for(model_id, timeout=120)
    assert body["status"] == "succeeded", body
    assert weights_digest(model_dir, earlier["id"]) == digest
    assert server.post("/predict", json={"model_id": earlier["id"], "X": [[0.5]]}).json() == before


def test_kill_9_of_the_training_process_is_recovered(server, model_dir):
    model_id = server.post("/train", json=MEDIUM).json()["id"]
    server.wait_for(model_id, {"running"})
    wait_until(lambda: trainers(model_dir), 5, "no training process")
    for pid in trainers(model_dir):
        os.kill(pid, signal.SIGKILL)
    body = server.wait_for(model_id, timeout=120)
    assert body["status"] == "succeeded" and body["attempts"] == 2


def test_sigterm_returns_running_jobs_to_the_queue(make_server, model_dir):
    server = make_server()
    model_id = server.post("/train", json=MEDIUM).json()["id"]
    server.wait_for(model_id, {"running"})
    server.stop()
    wait_until(lambda: not trainers(model_dir), 10, "training process outlived its server")
    import json
    record = json.loads((model_dir / model_id / "model.json").read_text())
    assert record["status"] in ("queued", "succeeded")  # requeued, or finished if nearly done
    server = make_server()
    assert server.wait_for(model_id, timeout=120)["status"] == "succeeded"


def test_worker_recycling_does_not_interrupt_training(make_server):
    server = make_server(extra_args=["--max-requests", "5"])
    model_id = server.post("/train", json=MEDIUM).json()["id"]
    server.wait_for(model_id, {"running"})
    for _ in range(30):  # each worker recycles several times meanwhile
        assert server.get("/healthz").status_code == 200
    body = server.wait_for(model_id, timeout=120)
    assert body["status"] == "succeeded" and body["attempts"] == 1


def test_preloaded_app_still_runs_jobs(make_server):
    server = make_server(extra_args=["--preload"])
    body = server.post("/train?wait=15", json={"iterations": 300, "seed": 0}).json()
    assert body["status"] == "succeeded"
