"""Request and response schemas: the API contract.

Requests are validated here (types, ranges, one-of names, limits from the configuration);
responses are dumped through the same module, so the contract lives in one place.
"""
import dataclasses
import re
import unicodedata

from flask import current_app
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from nn import TrainConfig
from nn.activations import ACTIVATIONS
from nn.initializers import INITIALIZERS
from nn.network import DTYPES
from nn.optimizers import OPTIMIZERS, SCHEDULES

from .fields import Matrix, StrictBoolean, StrictFloat, StrictInteger

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
PRESETS = ("default", "reference")
SEED_MAX = 2 ** 63 - 1


def _limit(name):
    return current_app.config[name]


_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(text):
    """No control characters (NUL, line breaks, C1, bidirectional overrides) and nothing that is
    not encodable Unicode."""
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in text):
        raise ValidationError("Must not contain control characters (such as NUL, line breaks or "
                              "direction overrides).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode (no lone surrogates).") from None


def _positive(**kw):
    return StrictFloat(validate=validate.Range(min=0, min_inclusive=False), **kw)


class DataSchema(Schema):
    X = Matrix(required=True, max_rows=lambda: _limit("MAX_ROWS"), max_columns=lambda: _limit("MAX_FEATURES"),
               metadata={"description": "m x n inputs: rows of numbers, or a flat list for one column"})
    Y = Matrix(required=True, max_rows=lambda: _limit("MAX_ROWS"), max_columns=lambda: _limit("MAX_FEATURES"),
               metadata={"description": "m x o targets: rows of numbers, or a flat list for one column"})

    @validates_schema(skip_on_field_errors=True)
    def _same_rows(self, data, **kwargs):
        if len(data["X"]) != len(data["Y"]):
            raise ValidationError(f"X has {len(data['X'])} rows but Y has {len(data['Y'])}; they must match.", "Y")


class GenerateSchema(Schema):
    n_samples = StrictInteger(load_default=200, validate=validate.Range(min=1), metadata={"max_setting": "MAX_ROWS"})
    x_min = StrictFloat(load_default=-3.0)
    x_max = StrictFloat(load_default=3.0)
    noise_std = StrictFloat(load_default=2.0, validate=validate.Range(min=0))
    seed = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(min=0, max=SEED_MAX))

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data, **kwargs):
        if data["x_min"] >= data["x_max"]:
            raise ValidationError("x_min must be less than x_max.", "x_max")
        if data["n_samples"] > _limit("MAX_ROWS"):
            raise ValidationError(f"At most {_limit('MAX_ROWS')} samples (NN_MAX_ROWS).", "n_samples")


class TrainRequestSchema(Schema):
    """POST /train. Every field is optional; `preset` picks the defaults of the others."""

    name = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=100), _printable])
    preset = fields.String(load_default="default", validate=validate.OneOf(PRESETS),
                           metadata={"description": "default: suits raw real-world data; "
                                                    "reference: the reference recipe (gd, lr 0.01, init seed, raw)"})
    # architecture
    hidden_layer_sizes = fields.List(StrictInteger(validate=validate.Range(min=1), metadata={"max_setting": "MAX_UNITS"}),
                                     load_default=[10, 10], metadata={"max_items_setting": "MAX_LAYERS"})
    activation = fields.String(load_default="relu", validate=validate.OneOf(list(ACTIVATIONS)))
    init = fields.String(load_default=None, validate=validate.OneOf(list(INITIALIZERS)),
                         metadata={"description": "default: he for relu, glorot otherwise (seed for preset reference)"})
    dtype = fields.String(load_default="float64", validate=validate.OneOf(DTYPES))
    # training
    iterations = StrictInteger(validate=validate.Range(min=1),
                               metadata={"description": "parameter updates (gradient steps)", "max_setting": "MAX_ITERATIONS"})
    learning_rate = _positive()
    optimizer = fields.String(validate=validate.OneOf(list(OPTIMIZERS)))
    momentum = StrictFloat(validate=validate.Range(min=0, max=1, max_inclusive=False))
    nesterov = StrictBoolean()
    beta1 = StrictFloat(validate=validate.Range(min=0, max=1, max_inclusive=False))
    beta2 = StrictFloat(validate=validate.Range(min=0, max=1, max_inclusive=False))
    epsilon = _positive()
    lr_schedule = fields.String(validate=validate.OneOf(SCHEDULES))
    power_t = StrictFloat(validate=validate.Range(min=0))
    lr_factor = StrictFloat(validate=validate.Range(min=0, max=1, min_inclusive=False, max_inclusive=False))
    lr_patience = StrictInteger(validate=validate.Range(min=1))
    batch_size = StrictInteger(allow_none=True, validate=validate.Range(min=1))
    alpha = StrictFloat(validate=validate.Range(min=0))
    clip_norm = _positive(allow_none=True)
    standardize = StrictBoolean()
    validation_fraction = StrictFloat(validate=validate.Range(min=0, max=1, max_inclusive=False))
    patience = StrictInteger(allow_none=True, validate=validate.Range(min=1))
    tol = StrictFloat(validate=validate.Range(min=0))
    seed = StrictInteger(allow_none=True, validate=validate.Range(min=0, max=SEED_MAX),
                         metadata={"description": "drawn at random when absent, and recorded"})
    max_seconds = _positive(metadata={"description": "wall-clock limit of the job", "max_setting": "MAX_TRAIN_SECONDS"})
    # data
    data = fields.Nested(DataSchema)
    generate = fields.Nested(GenerateSchema)

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data, **kwargs):
        if "data" in data and "generate" in data:
            raise ValidationError("Give either `data` or `generate`, not both.", "generate")
        errors = {}
        sizes = data["hidden_layer_sizes"]
        if len(sizes) > _limit("MAX_LAYERS"):
            errors["hidden_layer_sizes"] = [f"At most {_limit('MAX_LAYERS')} hidden layers (NN_MAX_LAYERS)."]
        elif sizes and max(sizes) > _limit("MAX_UNITS"):
            errors["hidden_layer_sizes"] = [f"At most {_limit('MAX_UNITS')} units per layer (NN_MAX_UNITS)."]
        if data.get("max_seconds", 0) > _limit("MAX_TRAIN_SECONDS"):
            errors["max_seconds"] = [f"At most {_limit('MAX_TRAIN_SECONDS'):g} seconds (NN_MAX_TRAIN_SECONDS)."]
        if errors:
            raise ValidationError(errors)




def preset_defaults(preset):
    config = TrainConfig.reference() if preset == "reference" else TrainConfig()
    defaults = dataclasses.asdict(config)
    defaults["init"] = "seed" if preset == "reference" else None
    return defaults


class PredictRequestSchema(Schema):
    model_id = fields.String(required=True, validate=[
        validate.Length(equal=32, error="Not a model id: ids are 32 lowercase hexadecimal characters."),
        validate.Regexp(r"^[0-9a-f]{32}$", error="Not a model id: ids are 32 lowercase hexadecimal characters.")])
    X = Matrix(required=True, max_rows=lambda: _limit("MAX_ROWS"), max_columns=lambda: _limit("MAX_FEATURES"),
               metadata={"description": "m x n inputs, raw units; a flat list means one column"})


class TrainQuerySchema(Schema):
    wait = StrictFloat(validate=validate.Range(min=0),
                       metadata={"description": "seconds to wait for the job to finish", "max_setting": "MAX_WAIT_SECONDS"})

    @validates_schema(skip_on_field_errors=True)
    def _check(self, data, **kwargs):
        if data.get("wait", 0) > _limit("MAX_WAIT_SECONDS"):
            raise ValidationError(f"At most {_limit('MAX_WAIT_SECONDS'):g} seconds (NN_MAX_WAIT_SECONDS).", "wait")

    @pre_load
    def _numbers_from_query(self, data, **kwargs):
        out = dict(data)
        if "wait" in out:
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", out["wait"]):
                raise ValidationError({"wait": ["Must be a number of seconds, such as 10 or 2.5."]})
            out["wait"] = float(out["wait"])
        return out


class ListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))


# -- responses -----------------------------------------------------------------------------

class PointSchema(Schema):
    iteration = fields.Integer()
    loss = fields.Float()


class ProgressSchema(Schema):
    iteration = fields.Integer()
    iterations = fields.Integer()
    loss = fields.Float(allow_none=True)
    elapsed_seconds = fields.Float(allow_none=True)
    eta_seconds = fields.Float(allow_none=True)
    queue_position = fields.Integer(allow_none=True)


class ArchitectureSchema(Schema):
    input_size = fields.Integer()
    hidden_layer_sizes = fields.List(fields.Integer())
    output_size = fields.Integer()
    hidden_activation = fields.String()
    output_activation = fields.String()
    n_parameters = fields.Integer()


class ModelSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    attempts = fields.Integer()
    architecture = fields.Nested(ArchitectureSchema)
    hyperparameters = fields.Dict(keys=fields.String())
    data = fields.Dict(keys=fields.String())
    progress = fields.Nested(ProgressSchema)
    loss = fields.Float(allow_none=True)
    val_loss = fields.Float(allow_none=True)
    loss_history = fields.List(fields.Nested(PointSchema))
    val_loss_history = fields.List(fields.Nested(PointSchema))
    training = fields.Dict(keys=fields.String(), allow_none=True)
    diagnostics = fields.Dict(keys=fields.String(), allow_none=True)
    error = fields.String(allow_none=True)


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelSchema))


class PredictionSchema(Schema):
    model_id = fields.String()
    predictions = fields.List(fields.List(fields.Float()))


class HealthSchema(Schema):
    status = fields.String()


class ProblemSchema(Schema):
    """RFC 9457 problem details: every error response."""

    type = fields.String(metadata={"description": "always about:blank: the status says it all"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String(metadata={"description": "what is wrong, and where"})
    errors = fields.Dict(metadata={"description": "422 only: messages per field, nested like the request"})
