import time

import pytest

from service import create_app

TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture
def model_dir(tmp_path):
    return tmp_path / "models"


@pytest.fixture
def app(model_dir):
    app = create_app({"TESTING": True, "MODEL_DIR": str(model_dir), "POLL_SECONDS": 0.05})
    yield app
    app.extensions["nn"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def wait_for(client):
    def wait(model_id, statuses=TERMINAL, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            body = client.get(f"/models/{model_id}").get_json()
            if body["status"] in statuses:
                return body
            assert time.monotonic() < deadline, f"model stuck in {body['status']}"
            time.sleep(0.05)
    return wait


@pytest.fixture
def trained(client, wait_for):
    """A small succeeded model on the quadratic problem."""
    response = client.post("/train", json={"iterations": 500, "seed": 0})
    body = wait_for(response.get_json()["id"])
    assert body["status"] == "succeeded", body
    return body
