"""Prometheus metrics, written by hand in the text exposition format (no extra dependency).

nlp_apps_requests_total{model,endpoint,status}   counter: model requests answered
nlp_apps_request_seconds{model,endpoint}         histogram: time to answer them
nlp_apps_requests_in_flight{model}               gauge: model requests being answered now
nlp_apps_batch_size{model}                       histogram: items per call of the model
nlp_apps_queue_depth{model}                      gauge: requests waiting in the model's queue
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nlp_apps.serve.paths import model_route

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    def __init__(self, buckets: Iterable[float]):
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)  # cumulative: observations <= each bound
        self.count, self.sum = 0, 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1


class Metrics:
    """Updated on the event loop only (requests and batches are settled there): no locks needed."""

    def __init__(self, endpoints: dict[str, Iterable[str]], queue_depths: Callable[[], dict[str, int]]):
        self.endpoints = {model: set(actions) for model, actions in endpoints.items()}
        self.queue_depths = queue_depths
        self.requests: Counter = Counter()
        self.in_flight: Counter = Counter()
        self.seconds: dict = defaultdict(lambda: Histogram(SECONDS_BUCKETS))
        self.batch_sizes: dict = defaultdict(lambda: Histogram(SIZE_BUCKETS))

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_sizes[model].observe(size)

    def render(self) -> str:
        lines = _family("nlp_apps_requests_total", "counter", "Model requests answered, by model, endpoint and status code.")
        lines += [_sample("nlp_apps_requests_total", dict(model=m, endpoint=e, status=str(s)), n) for (m, e, s), n in sorted(self.requests.items())]
        lines += _family("nlp_apps_request_seconds", "histogram", "Seconds to answer a model request.")
        for (model, endpoint), histogram in sorted(self.seconds.items()):
            lines += _histogram("nlp_apps_request_seconds", dict(model=model, endpoint=endpoint), histogram)
        lines += _family("nlp_apps_requests_in_flight", "gauge", "Model requests being answered now.")
        lines += [_sample("nlp_apps_requests_in_flight", dict(model=m), self.in_flight[m]) for m in sorted(self.endpoints)]
        lines += _family("nlp_apps_batch_size", "histogram", "Items (texts, questions, prompts) per call of a model.")
        for model, histogram in sorted(self.batch_sizes.items()):
            lines += _histogram("nlp_apps_batch_size", dict(model=model), histogram)
        lines += _family("nlp_apps_queue_depth", "gauge", "Requests waiting in a model's queue.")
        lines += [_sample("nlp_apps_queue_depth", dict(model=m), n) for m, n in sorted(self.queue_depths().items())]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Counts and times every request to /v1/models/{name}/{action} (an unknown name or action counts as "_unknown")."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = model_route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        model = route[0] if route[0] in self.metrics.endpoints else "_unknown"
        endpoint = route[1] if route[1] in self.metrics.endpoints.get(model, ()) else "_unknown"
        status, started = 500, time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight[model] += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight[model] -= 1
            self.metrics.requests[model, endpoint, status] += 1
            self.metrics.seconds[model, endpoint].observe(time.perf_counter() - started)


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _sample(name: str, labels: dict, value: float) -> str:
    text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{text}}} {value!r}"


def _histogram(name: str, labels: dict, histogram: Histogram) -> list[str]:
    lines = [_sample(f"{name}_bucket", {**labels, "le": f"{bound:g}"}, n) for bound, n in zip(histogram.buckets, histogram.counts)]
    lines.append(_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, histogram.count))
    return lines + [_sample(f"{name}_sum", labels, histogram.sum), _sample(f"{name}_count", labels, histogram.count)]


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
