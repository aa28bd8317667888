from flask import Blueprint, current_app, url_for

from .. import jobs
from ..body import json_body, query_args
from ..extensions import get_runner, get_store
from ..predictor import not_found, read_record
from ..schemas import ListQuerySchema, ModelListSchema, ModelSchema, TrainQuerySchema, TrainRequestSchema
from ..store import NotFound

bp = Blueprint("models", __name__)
model_schema = ModelSchema()


def present(records):
    return jobs.with_queue_positions(get_store(), records)


@bp.post("/train")
def train():
    query = TrainQuerySchema().load(query_args())
    job = TrainRequestSchema().load(json_body())
    record = jobs.submit(get_store(), current_app.config, job)
    get_runner().wake()
    if query.get("wait"):
        record = jobs.wait_until_finished(get_store(), record["id"], query["wait"])
    status = 201 if record.get("status") in jobs.TERMINAL else 202
    location = url_for("models.get_model", model_id=record["id"])
    return model_schema.dump(present([record])[0]), status, {"Location": location}


@bp.get("/models")
def list_models():
    query = ListQuerySchema().load(query_args())
    records = get_store().records()
    shown = [r for r in records if r.get("status") == query["status"]] if "status" in query else records
    return ModelListSchema().dump({"models": present(shown)})


@bp.get("/models/<model_id>")
def get_model(model_id):
    return model_schema.dump(present([read_record(get_store(), model_id)])[0])


@bp.post("/models/<model_id>/cancel")
def cancel_model(model_id):
    try:
        record = jobs.cancel(get_store(), model_id)
    except NotFound:
        raise not_found(model_id)
    status = 200 if record.get("status") in jobs.TERMINAL else 202
    return model_schema.dump(present([record])[0]), status


@bp.delete("/models/<model_id>")
def delete_model(model_id):
    try:
        get_store().delete(model_id)
    except NotFound:
        raise not_found(model_id)
    response = current_app.response_class(status=204)
    del response.headers["Content-Type"]  # no body, so no type
    return response
