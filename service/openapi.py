"""The OpenAPI 3 document, generated from the marshmallow schemas that validate requests and
shape responses (apispec + its marshmallow plugin), so it cannot drift from them.

The configured limits (``NN_MAX_*``) appear as ``maximum``/``maxItems`` where fields name them
in their metadata (``max_setting``, ``max_items_setting``).
"""
import json

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import validate

from . import fields as strict
from nn.trainer import TRAINING_FIELDS

from .schemas import (HealthSchema, ListQuerySchema, ModelListSchema, ModelSchema, PredictionSchema,
                      PredictRequestSchema, ProblemSchema, TrainQuerySchema, TrainRequestSchema,
                      preset_defaults)
from .store import ID_PATTERN

PROBLEM = "application/problem+json"
ERRORS = {
    400: "The body is not valid JSON (or has duplicate keys, or nests too deep).",
    401: "Missing or wrong bearer token (only when NN_API_TOKEN is set).",
    404: "No such model, or no such route.",
    405: "Method not allowed here (see the Allow header).",
    408: "The body stalled for NN_BODY_TIMEOUT_SECONDS.",
    409: "The model has not succeeded, or its files are damaged.",
    413: "The body is larger than NN_MAX_BODY_BYTES.",
    415: "The body is not application/json.",
    422: "The request is invalid: `errors` says what, field by field.",
}


def _json(schema):
    return {"application/json": {"schema": schema}}


def _responses(success, *errors):
    out = {str(code): desc for code, desc in success.items()}
    for code in (401, 405, *errors):
        out[str(code)] = {"description": ERRORS[code], "content": {PROBLEM: {"schema": "Problem"}}}
    return out


MODEL_ID = {"in": "path", "name": "model_id", "required": True,
            "schema": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"}}


def _operations():
    model = {"description": "The model resource.", "content": _json("Model")}
    return {
        "/train": {"post": {
            "summary": "Start a training job",
            "description": "Validates, persists the job as queued, and answers at once (202), or after "
                           "at most `wait` seconds with the finished model (201).",
            "parameters": [{"in": "query", "schema": TrainQuerySchema}],
            "requestBody": {"required": True, "content": _json(TrainRequestSchema)},
            "responses": _responses({
                201: dict(model, description="Finished within `wait` seconds.",
                          headers={"Location": {"schema": {"type": "string"}}}),
                202: dict(model, description="Accepted; poll Location.",
                          headers={"Location": {"schema": {"type": "string"}}}),
            }, 400, 408, 413, 415, 422)}},
        "/models": {"get": {
            "summary": "List models, newest first",
            "parameters": [{"in": "query", "schema": ListQuerySchema}],
            "responses": _responses({200: {"description": "The models.", "content": _json(ModelListSchema)}}, 422)}},
        "/models/{model_id}": {
            "get": {"summary": "A model", "parameters": [MODEL_ID],
                    "responses": _responses({200: model}, 404, 409)},
            "delete": {"summary": "Delete a model (cancelling its job first)", "parameters": [MODEL_ID],
                       "responses": _responses({204: {"description": "Deleted."}}, 404)}},
        "/models/{model_id}/cancel": {"post": {
            "summary": "Cancel a queued or running job",
            "parameters": [MODEL_ID],
            "responses": _responses({200: dict(model, description="Finished (cancelled, or it had already finished)."),
                                     202: dict(model, description="Still stopping.")}, 404, 409)}},
        "/predict": {"post": {
            "summary": "Predict with a succeeded model",
            "requestBody": {"required": True, "content": _json(PredictRequestSchema)},
            "responses": _responses({200: {"description": "Predictions, raw units.",
                                           "content": _json(PredictionSchema)}}, 400, 404, 408, 409, 413, 415,
                                  422)}},
        "/healthz": {"get": {
            "summary": "Liveness", "security": [],
            "responses": {"200": {"description": "Up.", "content": _json(HealthSchema)}}}},
        "/openapi.json": {"get": {
            "summary": "This document",
            "responses": _responses({200: {"description": "OpenAPI 3 document.",
                                           "content": {"application/json": {"schema": {"type": "object"}}}}})}},
    }


def _matrix(config):
    def attributes(converter, field, **kwargs):
        if not isinstance(field, strict.Matrix):
            return {}
        number = {"type": "number"}
        row = {"type": "array", "items": number, "minItems": 1, "maxItems": config["MAX_FEATURES"]}
        return {"type": "array", "minItems": 1, "maxItems": config["MAX_ROWS"],
                "anyOf": [{"items": row}, {"items": number}]}
    return attributes


def _limits(config):
    """Configured maximums, and the exclusive bounds apispec leaves out (OpenAPI 3.0 style)."""
    def attributes(converter, field, **kwargs):
        out = {}
        for validator in field.validators:
            if isinstance(validator, validate.Range):
                if validator.min is not None and not validator.min_inclusive:
                    out["exclusiveMinimum"] = True
                if validator.max is not None and not validator.max_inclusive:
                    out["exclusiveMaximum"] = True
        if "max_setting" in field.metadata:
            out["maximum"] = config[field.metadata["max_setting"]]
        if "max_items_setting" in field.metadata:
            out["maxItems"] = config[field.metadata["max_items_setting"]]
        return out
    return attributes


def _describe_defaults(properties):
    """Training fields take their defaults from the preset: say which, in each description."""
    default, reference = preset_defaults("default"), preset_defaults("reference")
    for name in TRAINING_FIELDS:
        if default[name] is None and properties[name].get("description"):
            continue  # described already (the seed)
        text = f"default {json.dumps(default[name])}"
        if reference[name] != default[name]:
            text += f" (preset reference: {json.dumps(reference[name])})"
        prop = properties[name]
        prop["description"] = f"{prop['description']}; {text}" if prop.get("description") else text


def build(config):
    plugin = MarshmallowPlugin()
    spec = APISpec(title="nn-service", version="1", openapi_version="3.0.3", plugins=[plugin],
                   info={"description": "Train and serve small feed-forward networks (pure NumPy)."})
    plugin.map_to_openapi_type(strict.StrictFloat, "number", None)
    plugin.map_to_openapi_type(strict.Matrix, "array", None)
    plugin.converter.add_attribute_function(_matrix(config))
    plugin.converter.add_attribute_function(_limits(config))
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.schema("Model", schema=ModelSchema)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for path, operations in _operations().items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    _describe_defaults(document["components"]["schemas"]["TrainRequest"]["properties"])
    if config.get("API_TOKEN"):
        document["security"] = [{"bearer": []}]
    return document
