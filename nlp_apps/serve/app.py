"""`create_app(models)`: the HTTP API over loaded models, as a FastAPI (ASGI) application.

GET  /                                the page to try each model
GET  /healthz, /readyz, /metrics      liveness, readiness (503 while stopping), Prometheus metrics
GET  /v1/models, /v1/models/{name}    the models: name, task, endpoints, training data, validation score
POST /v1/models/{name}/predict        a task model's predictions
POST /v1/models/{name}/perplexity     a language model's perplexity of texts
POST /v1/models/{name}/generate       a language model's continuation of a prompt

(No `from __future__ import annotations`: route handlers are annotated with request classes built at runtime.)
"""

import asyncio
import logging
from collections.abc import Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse

from nlp_apps import __version__
from nlp_apps.serve import schemas
from nlp_apps.serve.auth import ApiKeyMiddleware
from nlp_apps.serve.batching import Batcher, Batching, InFlightMiddleware, QueueFull, RequestTimeout, ShuttingDown
from nlp_apps.serve.body_limit import BodyLimitMiddleware
from nlp_apps.serve.endpoints import Endpoint, endpoints_for
from nlp_apps.serve.errors import install_error_handlers, one_line
from nlp_apps.serve.metrics import Metrics, MetricsMiddleware
from nlp_apps.serve.models import ServedModel, describe
from nlp_apps.serve.page import install_page

log = logging.getLogger("nlp_apps.serve")
RETRY_AFTER_S = 1
ERRORS = {code: {"model": schemas.ErrorBody, "description": text} for code, text in {
    400: "the body is not JSON (or not UTF-8)", 401: "no API key given", 403: "wrong API key", 404: "no such model or endpoint", 413: "body too large",
    422: "invalid request", 503: "queue full or shutting down (see Retry-After)", 504: "not answered in time"}.items()}


def create_app(models: Mapping[str, Any], limits: schemas.Limits | None = None, batching: Batching | None = None,
               api_key: str | None = None, cors_origins: Iterable[str] = ()) -> FastAPI:
    """An app serving `models` ({name: ServedModel, or a pipeline from `nlp_apps.load`}) under these limits."""
    limits, batching = limits or schemas.Limits(), batching or Batching()
    served = {name: m if isinstance(m, ServedModel) else describe(name, m) for name, m in models.items()}
    if not served:
        raise ValueError("give at least one model to serve")
    requests = schemas.request_models(limits)
    endpoints = {name: endpoints_for(model.task, requests) for name, model in served.items()}
    batchers: dict[str, Batcher] = {}
    metrics = Metrics(endpoints, lambda: {name: b.depth for name, b in batchers.items()})
    for name, model in served.items():
        batchers[name] = Batcher(name, runner(model.pipeline, endpoints[name]), batching,
                                 on_batch=lambda size, name=name: metrics.observe_batch(name, size))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.ready = False  # /readyz says so while the queues drain
        await asyncio.gather(*(batcher.close() for batcher in batchers.values()))

    app = FastAPI(title="nlp-apps", version=__version__, lifespan=lifespan,
                  description="Predictions of the loaded nlp-apps models. Every error is {\"detail\": \"one line\"}.")
    app.state.models, app.state.batchers, app.state.metrics, app.state.ready = served, batchers, metrics, True
    install_error_handlers(app)
    add_service_routes(app, served, endpoints, metrics)
    for name, model in served.items():
        for endpoint in endpoints[name].values():
            add_model_route(app, model, endpoint, batchers[name])
    add_fallback_route(app, endpoints)
    install_page(app)

    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(InFlightMiddleware, batchers=batchers)  # outside the body limit: a body still streaming in counts
    if api_key:
        app.add_middleware(ApiKeyMiddleware, key=api_key)
    origins = list(cors_origins)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # the outermost: it sees every answer, refusals included
    return app


def runner(pipeline: Any, endpoints: dict[str, Endpoint]):
    """The batcher's run(key, items) for one model: key = (action, sorted options)."""

    def run(key: tuple, items: list) -> list:
        import torch

        action, options = key
        with torch.no_grad():
            return endpoints[action].run(pipeline, dict(options), items)

    return run


def model_info(model: ServedModel, endpoints: dict[str, Endpoint]) -> schemas.ModelInfo:
    return schemas.ModelInfo(endpoints=list(endpoints), **model.public())


def add_service_routes(app: FastAPI, served: dict[str, ServedModel], endpoints: dict, metrics: Metrics) -> None:
    @app.get("/healthz", summary="Liveness: the process answers.")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the models are loaded and the server takes requests.", responses={503: ERRORS[503]})
    async def readyz():
        if not app.state.ready:
            return JSONResponse({"detail": "shutting down"}, status_code=503)
        return {"status": "ready", "models": list(served)}

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (text format).")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models", summary="The models this server holds.")
    async def list_models() -> schemas.ModelList:
        return schemas.ModelList(models=[model_info(m, endpoints[n]) for n, m in served.items()])

    @app.get("/v1/models/{name}", summary="One model.", responses={404: ERRORS[404]})
    async def get_model(name: str) -> schemas.ModelInfo:
        if name not in served:
            raise HTTPException(404, no_model(name, served))
        return model_info(served[name], endpoints[name])


def add_model_route(app: FastAPI, model: ServedModel, endpoint: Endpoint, batcher: Batcher) -> None:
    request_type, response_type = endpoint.request, endpoint.response

    async def handler(body: request_type) -> response_type:
        options, items = endpoint.split(body)
        results = await answer(batcher, (endpoint.action, tuple(sorted(options.items()))), items)
        return endpoint.respond(results)

    app.add_api_route(f"/v1/models/{model.name}/{endpoint.action}", handler, methods=["POST"], response_model=response_type,
                      summary=f"{model.name} ({model.task}): {endpoint.summary}", tags=[model.name], responses=ERRORS,
                      name=f"{model.name}:{endpoint.action}", operation_id=f"{model.name}_{endpoint.action}")


async def answer(batcher: Batcher, key: tuple, items: list) -> list:
    """The batcher's results, or the HTTP error that says why there are none."""
    try:
        return await batcher.submit(key, items)
    except QueueFull:
        raise HTTPException(503, f"model {batcher.name!r} has {batcher.config.queue_size} requests waiting; retry later",
                            headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    except ShuttingDown:
        raise HTTPException(503, "the server is shutting down", headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    except RequestTimeout:
        raise HTTPException(504, f"model {batcher.name!r} did not answer within {batcher.config.timeout_s:g} s") from None
    except (ValueError, TypeError) as exc:  # the pipeline refused this input (an empty prompt, a text with no words)
        raise HTTPException(422, one_line(exc) or type(exc).__name__) from None
    except Exception:
        log.exception("model %r failed", batcher.name)
        raise HTTPException(500, f"model {batcher.name!r} failed (the server log has the details)") from None


def add_fallback_route(app: FastAPI, endpoints: dict[str, dict[str, Endpoint]]) -> None:
    """A helpful 404 (or 405) for /v1/models/{name}/{action} paths that no model route matched."""

    @app.api_route("/v1/models/{name}/{action}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def fallback(name: str, action: str):
        if name not in endpoints:
            raise HTTPException(404, no_model(name, endpoints))
        if action in endpoints[name]:
            raise HTTPException(405, f"use POST for /v1/models/{name}/{action}", headers={"Allow": "POST"})
        raise HTTPException(404, f"model {name!r} has no endpoint {action!r} (its endpoints: {', '.join(endpoints[name])})")


def no_model(name: str, models: Mapping) -> str:
    return f"no model named {name[:64]!r} (loaded: {', '.join(models)})"
