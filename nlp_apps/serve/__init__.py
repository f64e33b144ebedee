"""`nlp-apps serve`: the loaded models behind one HTTP API (FastAPI + uvicorn), with dynamic batching.

    from nlp_apps.serve import create_app
    app = create_app({"sst2": nlp_apps.load("runs/sst2")})   # an ASGI app: run it, or mount it in yours

See docs/serving.md for the endpoints, limits, batching, metrics and shutdown.
"""

from nlp_apps.serve.app import create_app
from nlp_apps.serve.batching import Batching
from nlp_apps.serve.models import ServedModel, describe, load_models
from nlp_apps.serve.schemas import Limits

__all__ = ["Batching", "Limits", "ServedModel", "create_app", "describe", "load_models"]
