import json
import os
import re

import numpy as np
import pytest

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def store_entries(model_dir):
    return sorted(p for p in os.listdir(model_dir) if not p.startswith(".")) if model_dir.exists() else []


# -- happy paths ---------------------------------------------------------------------------

def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_train_accepts_with_location_and_queued_resource(client, model_dir):
    response = client.post("/train", json={"name": "first", "iterations": 100})
    assert response.status_code == 202
    body = response.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert response.headers["Location"] == f"/models/{body['id']}"
    assert body["status"] == "queued" and body["name"] == "first"
    assert body["architecture"] == {"input_size": 1, "hidden_layer_sizes": [10, 10], "output_size": 1,
                                    "hidden_activation": "relu", "output_activation": "identity",
                                    "n_parameters": 141}
    hp = body["hyperparameters"]
    assert hp["iterations"] == 100 and hp["learning_rate"] > 0 and isinstance(hp["seed"], int)
    assert body["data"]["source"] == "generated" and body["data"]["n_samples"] == 200
    assert body["progress"]["iteration"] == 0 and body["progress"]["iterations"] == 100
    assert body["loss"] is None and body["created_at"].endswith("Z")
    assert store_entries(model_dir) == [body["id"]]  # persisted before the answer


def test_training_runs_in_the_background_to_success(client, trained):
    assert trained["loss"] > 0 and trained["progress"]["iteration"] == trained["training"]["iterations_run"]
    assert 0 < len(trained["loss_history"]) <= 201
    assert trained["started_at"] and trained["finished_at"] and trained["error"] is None
    assert trained["diagnostics"]["constant_output"] is False
    json.dumps(trained, allow_nan=False)


def test_reference_preset_resolves_the_reference_recipe(client):
    body = client.post("/train", json={"preset": "reference", "iterations": 10}).get_json()
    hp = body["hyperparameters"]
    assert (hp["optimizer"], hp["learning_rate"], hp["init"], hp["standardize"], hp["batch_size"],
            hp["validation_fraction"], hp["patience"], hp["alpha"]) == ("gd", 0.01, "seed", False, None, 0.0,
                                                                        None, 0.0)
    assert hp["iterations"] == 10


def test_train_on_supplied_data_multi_output(client, wait_for):
    X = [[i / 10, (i % 3) / 3] for i in range(40)]
    Y = [[x[0] * 2, x[1] - 1, 5.0] for x in X]
    response = client.post("/train", json={"data": {"X": X, "Y": Y}, "hidden_layer_sizes": [8],
                                           "iterations": 300, "seed": 1})
    body = wait_for(response.get_json()["id"])
    assert body["status"] == "succeeded"
    assert body["data"] == {"source": "supplied", "n_samples": 40, "n_features": 2, "n_outputs": 3}
    assert body["architecture"]["input_size"] == 2 and body["architecture"]["output_size"] == 3
    predictions = client.post("/predict", json={"model_id": body["id"], "X": X[:4]}).get_json()["predictions"]
    assert np.array(predictions).shape == (4, 3)


def test_flat_lists_mean_one_column(client, wait_for):
    response = client.post("/train", json={"data": {"X": [1, 2, 3, 4], "Y": [2, 4, 6, 8]}, "iterations": 50})
    assert response.status_code == 202
    body = wait_for(response.get_json()["id"])
    assert body["architecture"]["input_size"] == 1
    assert client.post("/predict", json={"model_id": body["id"], "X": [1.5, 2.5]}).status_code == 200


def test_predict(client, trained):
    response = client.post("/predict", json={"model_id": trained["id"], "X": [[0.0], [1.0], [2.0]]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_id"] == trained["id"] and np.array(body["predictions"]).shape == (3, 1)


def test_list_newest_first_and_filter(client, trained):
    second = client.post("/train", json={"iterations": 10}).get_json()
    models = client.get("/models").get_json()["models"]
    assert [m["id"] for m in models][:2] == [second["id"], trained["id"]]
    succeeded = client.get("/models?status=succeeded").get_json()["models"]
    assert trained["id"] in [m["id"] for m in succeeded]
    assert all(m["status"] == "succeeded" for m in succeeded)
    assert_problem(client.get("/models?status=bogus"), 422)


def test_delete(client, trained, model_dir):
    response = client.delete(f"/models/{trained['id']}")
    assert response.status_code == 204 and response.data == b"" and "Content-Type" not in response.headers
    assert_problem(client.get(f"/models/{trained['id']}"), 404)
    assert_problem(client.delete(f"/models/{trained['id']}"), 404)
    assert_problem(client.post("/predict", json={"model_id": trained["id"], "X": [[1.0]]}), 404)
    assert store_entries(model_dir) == []


def test_delete_while_training_cancels_and_nothing_reappears(client, wait_for, model_dir):
    model_id = client.post("/train", json={"iterations": 1_000_000, "patience": None}).get_json()["id"]
    wait_for(model_id, {"running"})
    assert client.delete(f"/models/{model_id}").status_code == 204
    assert_problem(client.get(f"/models/{model_id}"), 404)
    import time
    time.sleep(1.0)
    assert store_entries(model_dir) == []
    assert not any(name.startswith(".trash") for name in os.listdir(model_dir))


# -- errors --------------------------------------------------------------------------------

def test_unknown_model_is_404(client):
    assert_problem(client.get("/models/" + "0" * 32), 404)
    assert_problem(client.get("/models/not-an-id"), 404)
    assert_problem(client.post("/predict", json={"model_id": "0" * 32, "X": [[1.0]]}), 404)


def test_predict_on_unfinished_model_is_409(client):
    model_id = client.post("/train", json={"iterations": 1_000_000, "patience": None}).get_json()["id"]
    body = assert_problem(client.post("/predict", json={"model_id": model_id, "X": [[1.0]]}), 409)
    assert "queued" in body["detail"] or "running" in body["detail"]


def test_predict_with_wrong_feature_count_is_422(client, trained):
    body = assert_problem(client.post("/predict", json={"model_id": trained["id"], "X": [[1.0, 2.0]]}), 422)
    assert "X" in body["errors"]


@pytest.mark.parametrize("payload,where", [
    ({"data": {"X": [[1]], "Y": [[1]]}, "generate": {}}, "generate"),
    ({"iterations": 0}, "iterations"),
    ({"iterations": True}, "iterations"),
    ({"iterations": 2.7}, "iterations"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": "0.1"}, "learning_rate"),
    ({"hidden_layer_sizes": [0]}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": [-5]}, "hidden_layer_sizes"),
    ({"name": "x" * 101}, "name"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"activation": "softmax"}, "activation"),
    ({"data": {"X": [[1], [2]], "Y": [[1]]}}, "data"),
    ({"data": {"X": [[1, 2], [3]], "Y": [[1], [2]]}}, "data"),
    ({"data": {"X": [], "Y": []}}, "data"),
    ({"data": {"X": [[1]]}}, "data"),
    ({"generate": {"x_min": 3, "x_max": -3}}, "generate"),
    ({"seed": -1}, "seed"),
    ({"itertions": 10}, "itertions"),
])
def test_train_validation_errors_are_422_and_create_nothing(client, model_dir, payload, where):
    body = assert_problem(client.post("/train", json=payload), 422)
    assert where in body["errors"], body
    assert store_entries(model_dir) == []


def test_malformed_json_is_400(client):
    assert_problem(client.post("/train", data='{"iterations": ', content_type="application/json"), 400)


def test_non_json_content_type_is_415(client):
    assert_problem(client.post("/train", data="iterations=1", content_type="application/x-www-form-urlencoded"), 415)
    assert_problem(client.post("/predict", data="hello", content_type="text/plain"), 415)


def test_top_level_must_be_an_object(client):
    for document in ("[]", "null", "3"):
        assert_problem(client.post("/train", data=document, content_type="application/json"), 422)


def test_unknown_route_and_wrong_method(client):
    assert_problem(client.get("/nowhere"), 404)
    assert_problem(client.get("/train"), 405)
    assert "POST" in client.get("/train").headers["Allow"]
    assert_problem(client.put("/models/" + "0" * 32), 405)


def test_errors_are_never_html(client):
    for response in (client.get("/nowhere"), client.post("/train", data="{", content_type="application/json")):
        assert b"<html" not in response.data.lower()


def test_history_grows_while_running_and_is_kept_on_cancel(client, wait_for):
    model_id = client.post("/train", json={"iterations": 1_000_000, "patience": None}).get_json()["id"]
    wait_for(model_id, {"running"})
    import time
    deadline = time.monotonic() + 20
    while not client.get(f"/models/{model_id}").get_json()["loss_history"]:
        assert time.monotonic() < deadline, "no loss history while running"
        time.sleep(0.1)
    body = client.post(f"/models/{model_id}/cancel").get_json()
    assert body["status"] == "cancelled"
    assert body["loss_history"] and body["progress"]["eta_seconds"] is None
    points = [p["iteration"] for p in body["loss_history"]]
    assert points == sorted(points) and all(p % 5000 == 0 for p in points)  # the checks: every 1/200


def test_one_seed_repeats_the_whole_run(client, wait_for):
    first = wait_for(client.post("/train", json={"iterations": 300, "seed": 7}).get_json()["id"])
    second = wait_for(client.post("/train", json={"iterations": 300, "seed": 7}).get_json()["id"])
    assert first["data"]["seed"] == 7 and first["hyperparameters"]["seed"] == 7
    assert first["loss"] == second["loss"] and first["loss_history"] == second["loss_history"]
    X = [[-1.0], [0.5], [2.0]]
    predict = lambda i: client.post("/predict", json={"model_id": i, "X": X}).get_json()["predictions"]  # noqa: E731
    assert predict(first["id"]) == predict(second["id"])
