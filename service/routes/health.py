from flask import Blueprint

from ..extensions import get_openapi

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/openapi.json")
def openapi_document():
    return get_openapi()
