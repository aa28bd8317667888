from flask import Blueprint, request, url_for

from .. import jobs
from ..body import json_body
from ..extensions import get_runner, get_store, present
from ..predictor import read_record
from ..schemas import ListQuerySchema, ModelListSchema, ModelSchema, TrainRequestSchema
from ..store import NotFound
from ..errors import ApiError
from flask import current_app

bp = Blueprint("models", __name__)
model_schema = ModelSchema()


@bp.post("/train")
def train():
    job = TrainRequestSchema().load(json_body())
    record = jobs.submit(get_store(), current_app.config, job)
    get_runner().wake()
    location = url_for("models.get_model", model_id=record["id"])
    return model_schema.dump(present([record])[0]), 202, {"Location": location}


@bp.get("/models")
def list_models():
    query = ListQuerySchema().load(request.args)
    records = present(get_store().records())
    if "status" in query:
        records = [r for r in records if r.get("status") == query["status"]]
    return ModelListSchema().dump({"models": records})


@bp.get("/models/<model_id>")
def get_model(model_id):
    return model_schema.dump(present([read_record(get_store(), model_id)])[0])


@bp.delete("/models/<model_id>")
def delete_model(model_id):
    try:
        get_store().delete(model_id)
    except NotFound:
        raise ApiError(404, f"There is no model with id {model_id[:80]!r}.", title="Model not found")
    return "", 204
