"""Property-based API tests driven by the OpenAPI document (schemathesis + hypothesis).

Every operation is called with generated requests, valid and invalid; every answer must be
no 5xx, with a status code, content type, headers and body that the document allows.
"""
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from service import create_app  # noqa: E402

# Small limits keep generated jobs small; no runner, so nothing trains in the background.
LIMITS = {"MAX_ROWS": 50, "MAX_FEATURES": 4, "MAX_LAYERS": 3, "MAX_UNITS": 16, "MAX_ITERATIONS": 100,
          "MAX_WAIT_SECONDS": 0.1, "RUN_JOBS": False}
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance,
          checks.negative_data_rejection]


@pytest.fixture
def contract_app(tmp_path):
    app = create_app({"TESTING": True, "MODEL_DIR": str(tmp_path / "models"), **LIMITS})
    yield app
    app.extensions["nn"].close()


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


# One test per operation and generation mode, driven by hypothesis directly (schemathesis's own
# pytest plugin does not support this pytest release).
WITH_INPUT = ["POST /train", "GET /models", "GET /models/{model_id}", "DELETE /models/{model_id}",
              "POST /models/{model_id}/cancel", "POST /predict"]
CASES = [(label, mode) for label in WITH_INPUT for mode in ("positive", "negative")] + [
    ("GET /healthz", "positive")]  # schemathesis leaves out the document's own path


@pytest.mark.parametrize("label,mode", CASES)
def test_api_conforms_to_its_openapi_document(contract_app, label, mode):
    operation = {op.label: op for op in operations(contract_app)}[label]
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @given(strategy)
    @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(checks=CHECKS)

    check()


def test_document_covers_every_route(contract_app):
    document = contract_app.test_client().get("/openapi.json").get_json()
    routes = {rule.rule.replace("<model_id>", "{model_id}") for rule in contract_app.url_map.iter_rules()
              if rule.endpoint != "static"}
    assert routes == set(document["paths"])
    assert document["openapi"].startswith("3.")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path != "/healthz":
                assert "401" in operation["responses"], (method, path)
