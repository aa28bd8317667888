import numpy as np


def test_train_poll_predict_list_delete(server):
    response = server.post("/train", json={"name": "it", "iterations": 3000, "patience": None, "seed": 0})
    assert response.status_code == 202
    model_id = response.json()["id"]
    assert response.headers["Location"] == f"/models/{model_id}"

    body = server.wait_for(model_id)
    assert body["status"] == "succeeded", body
    assert 1.0 < body["loss"] < 2.6 and body["progress"]["iteration"] == 3000

    X = [[-2.0], [0.0], [2.0]]
    predictions = server.post("/predict", json={"model_id": model_id, "X": X})
    assert predictions.status_code == 200
    assert np.array(predictions.json()["predictions"]).shape == (3, 1)

    listed = server.get("/models").json()["models"]
    assert [m["id"] for m in listed] == [model_id]

    assert server.delete(f"/models/{model_id}").status_code == 204
    assert server.get(f"/models/{model_id}").status_code == 404
    assert server.get("/models").json() == {"models": []}


def test_every_worker_answers_for_every_model(server):
    model_id = server.post("/train", json={"iterations": 200, "seed": 1}).json()["id"]
    server.wait_for(model_id)
    # many requests spread over both workers: all see the same, finished model
    statuses = {server.get(f"/models/{model_id}").json()["status"] for _ in range(20)}
    assert statuses == {"succeeded"}


def test_errors_from_the_real_server_are_problem_json(server):
    response = server.post("/train", data="{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/problem+json"
    response = server.get("/nowhere")
    assert response.status_code == 404 and response.json()["status"] == 404


def test_a_model_predicts_identically_after_a_restart(make_server):
    first = make_server()
    model_id = first.post("/train", json={"iterations": 500, "seed": 3}).json()["id"]
    assert first.wait_for(model_id)["status"] == "succeeded"
    X = [[x] for x in np.linspace(-3, 3, 25)]
    before = first.post("/predict", json={"model_id": model_id, "X": X}).json()["predictions"]
    first.stop()

    second = make_server()
    after = second.post("/predict", json={"model_id": model_id, "X": X}).json()["predictions"]
    assert after == before
