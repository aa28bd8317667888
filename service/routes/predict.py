from flask import Blueprint

from ..body import json_body
from ..extensions import get_predictor
from ..schemas import PredictionSchema, PredictRequestSchema

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict():
    query = PredictRequestSchema().load(json_body())
    predictions = get_predictor().predict(query["model_id"], query["X"])
    return PredictionSchema().dump({"model_id": query["model_id"], "predictions": predictions.tolist()})
