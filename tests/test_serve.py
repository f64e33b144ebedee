"""`nlp-apps serve` and `nlp_apps.serve.create_app`: the HTTP API over tiny models of every task and a
tiny LM, dynamic batching (with stub pipelines that record their calls), the limits and error
bodies, the API key, metrics, and a graceful stop of a real server process."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from nlp_apps.serve import Batching, Limits, ServedModel, create_app, load_models
from tests.serve_models import TASKS, build_model_dirs

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2 under its test client; httpx works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]


# ---- tiny models of every task, served once for the module ------------------------------------------


@pytest.fixture(scope="module")
def model_dirs(tiny_language_model, tmp_path_factory) -> dict[str, Path]:
    return build_model_dirs(tiny_language_model, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def client(model_dirs):
    from nlp_apps.registry import reset_registry

    with pytest.MonkeyPatch.context() as patch:  # nlp_apps.load finds a task model's plug-in through the entry points
        patch.delenv("NLP_APPS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        reset_registry()
        models = load_models([f"{name}={path}" for name, path in model_dirs.items()])
    reset_registry()
    with TestClient(create_app(models, limits=Limits(max_texts=4, max_chars=200, max_body_bytes=4000))) as test_client:
        yield test_client


def one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail and "Traceback" not in detail
    return detail


def test_lists_the_models_with_their_task_data_and_score(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {name: m["task"] for name, m in models.items()} == {"lm": "language_model", **{t: t for t in TASKS}}
    assert models["lm"]["endpoints"] == ["perplexity", "generate"] and models["qa"]["endpoints"] == ["predict"]
    assert models["sentiment"]["metric"] == {"name": "accuracy", "value": 0.75}
    assert models["sentiment"]["trained_on"] == ["sst2/train.tsv"]
    assert client.get("/v1/models/qa").json()["task"] == "qa"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and set(ready["models"]) == {"lm", *TASKS}


def test_sentiment_predicts_a_label_and_probabilities_per_text(client):
    predictions = client.post("/v1/models/sentiment/predict", json={"texts": ["a gorgeous film", "dull"]}).json()["predictions"]
    assert len(predictions) == 2
    for p in predictions:
        assert p["label"] in p["probabilities"] and sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-5)


def test_translation_and_summarization_give_outputs_and_n_best_lists(client):
    plain = client.post("/v1/models/translation/predict", json={"texts": ["Ein Hund läuft.", "Zwei Katzen."]}).json()
    assert len(plain["outputs"]) == 2 and all(isinstance(o, str) for o in plain["outputs"]) and plain["n_best"] is None
    ranked = client.post("/v1/models/translation/predict", json={"texts": ["Ein Hund läuft."], "beam_size": 3, "n_best": 2, "max_length": 8}).json()
    assert len(ranked["n_best"][0]) == 2 and ranked["outputs"][0] == ranked["n_best"][0][0]["text"]
    assert ranked["n_best"][0][0]["score"] >= ranked["n_best"][0][1]["score"]
    summary = client.post("/v1/models/summarization/predict", json={"texts": ["Hi Anna, the meeting moves to Friday at noon."]}).json()
    assert len(summary["outputs"]) == 1 and isinstance(summary["outputs"][0], str)
    assert one_line_error(client.post("/v1/models/translation/predict", json={"texts": ["x"], "beam_size": 2, "n_best": 3}), 422)


def test_qa_answers_with_a_span_of_the_context(client):
    context = "The Eiffel Tower was finished in 1889. It stands in Paris."
    inputs = [{"context": context, "question": "When was the tower finished?"}, {"context": context, "question": "Where is it?"}]
    answers = client.post("/v1/models/qa/predict", json={"inputs": inputs}).json()["answers"]
    assert len(answers) == 2
    assert all(a["answer"] == context[a["start"] : a["end"]] and 0 <= a["score"] <= 1 for a in answers)


def test_a_language_model_scores_and_continues_text(client, model_dirs):
    import nlp_apps

    texts = ["The cat sees the moon.", "A dog finds two birds."]
    scores = client.post("/v1/models/lm/perplexity", json={"texts": texts}).json()["scores"]
    assert len(scores) == 2 and all(s["token_perplexity"] > 1 and s["words"] == 6 for s in scores)
    alone = [nlp_apps.load(model_dirs["lm"]).perplexity(text) for text in texts]  # the texts are scored side by side
    assert [s["token_perplexity"] for s in scores] == pytest.approx([r.token_perplexity for r in alone], rel=1e-4)
    body = {"prompt": "The cat", "max_tokens": 12, "temperature": 0.8, "top_p": 0.9, "seed": 3}
    text = client.post("/v1/models/lm/generate", json=body).json()["text"]
    assert text == nlp_apps.load(model_dirs["lm"]).generate("The cat", max_tokens=12, temperature=0.8, top_p=0.9, seed=3)
    assert one_line_error(client.post("/v1/models/lm/generate", json={"prompt": "   "}), 422) == "the prompt is empty: give some text to continue"


def test_client_mistakes_are_4xx_with_a_one_line_detail(client):
    post = client.post
    assert "not valid JSON" in one_line_error(post("/v1/models/sentiment/predict", content=b'{"texts": [', headers={"content-type": "application/json"}), 422)
    assert one_line_error(post("/v1/models/sentiment/predict", json={"texts": "one text"}), 422).startswith("texts:")
    assert one_line_error(post("/v1/models/sentiment/predict", json={"texts": [1]}), 422).startswith("texts.0:")
    as_text = post("/v1/models/sentiment/predict", content=b'{"texts": ["a"]}', headers={"content-type": "text/plain"})
    assert "Content-Type: application/json" in one_line_error(as_text, 422)
    assert "Extra inputs" in one_line_error(post("/v1/models/sentiment/predict", json={"texts": ["a"], "text": "a"}), 422)
    assert "at most 4 items" in one_line_error(post("/v1/models/sentiment/predict", json={"texts": ["a"] * 5}), 422)
    assert "at most 200 characters" in one_line_error(post("/v1/models/sentiment/predict", json={"texts": ["a" * 201]}), 422)
    assert one_line_error(post("/v1/models/lm/generate", json={"prompt": "The", "max_tokens": 10**6}), 422).startswith("max_tokens:")
    assert one_line_error(post("/v1/models/lm/generate", json={"prompt": "The", "seed": 10**30}), 422).startswith("seed:")
    assert "no model named 'nope'" in one_line_error(post("/v1/models/nope/predict", json={"texts": ["a"]}), 404)
    assert "its endpoints: perplexity, generate" in one_line_error(post("/v1/models/lm/predict", json={"texts": ["a"]}), 404)
    assert one_line_error(client.get("/v1/models/sentiment/predict"), 405) == "use POST for /v1/models/sentiment/predict"
    assert "larger than 4000 bytes" in one_line_error(post("/v1/models/sentiment/predict", json={"texts": ["a" * 150] * 30}), 413)
    chunked = post("/v1/models/sentiment/predict", content=iter([b'{"texts": ["', b"a" * 3000, b"a" * 3000, b'"]}']))
    assert chunked.request.headers.get("transfer-encoding") == "chunked" and "larger than" in one_line_error(chunked, 413)
    # A body that is not JSON, or not UTF-8, is a 400 that every predict route documents (found by the schema fuzz).
    for body, status in ((b"J\x91(\x1e\x97\x8fZ\xbez\x80\xa6", 400), (b"S\x10\x91\xcd", 400), (b'{"texts": [', 422)):
        assert one_line_error(post("/v1/models/sentiment/predict", content=body, headers={"content-type": "application/json"}), status)
    schema = client.get("/openapi.json").json()
    assert all("400" in operation["post"]["responses"] for path, operation in schema["paths"].items() if path.startswith("/v1/models/") and "post" in operation)


def test_metrics_count_requests_batches_and_queues(client):
    client.post("/v1/models/sentiment/predict", json={"texts": ["fine", "good"]})
    client.post("/v1/models/nope/predict", json={"texts": ["a"]})
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert "# TYPE nlp_apps_requests_total counter" in text
    count = [line for line in text.splitlines() if line.startswith('nlp_apps_requests_total{model="sentiment",endpoint="predict",status="200"}')]
    assert count and int(count[0].split()[-1]) >= 1
    assert 'nlp_apps_requests_total{model="_unknown",endpoint="_unknown",status="404"}' in text
    assert 'nlp_apps_batch_size_bucket{model="sentiment",le="2"}' in text and 'nlp_apps_request_seconds_count{model="sentiment",endpoint="predict"}' in text
    assert 'nlp_apps_queue_depth{model="qa"} 0' in text and 'nlp_apps_requests_in_flight{model="lm"} 0' in text


def test_the_openapi_schema_and_the_page(client):
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["TextsRequest"]["properties"]["texts"]
    assert body["maxItems"] == 4 and body["items"]["maxLength"] == 200
    assert "/v1/models/qa/predict" in schema["paths"] and "/v1/models/lm/generate" in schema["paths"]
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html") and 'id="api-key"' in page.text and '"model-" + model.name' in page.text


# ---- batching, queues and timeouts, with stub pipelines --------------------------------------------


class Echo:
    """A sentiment stub: labels each text with itself and records the batch sizes it was called with."""

    def __init__(self, delay: float = 0.0):
        self.calls, self.delay = [], delay

    def predict(self, texts):
        self.calls.append(len(texts))
        time.sleep(self.delay)
        if "bad" in texts:
            raise ValueError("a text the model refuses")
        return [{"label": t, "probabilities": {t: 1.0}} for t in texts]


class Blocking(Echo):
    """An Echo that holds its first call until `release` is set (`started` tells it began): the model stays busy."""

    def __init__(self):
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def predict(self, texts):
        self.started.set()
        self.release.wait(10)
        return super().predict(texts)


class Beam:
    """A translation stub that records the options of each call."""

    def __init__(self):
        self.calls = []

    def predict(self, texts, **options):
        self.calls.append((len(texts), options))
        return [f"{t}|{options.get('beam_size')}" for t in texts]


def gather(app, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Send the requests concurrently on one event loop, then stop the app's batchers (which drain)."""

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as http:
            responses = await asyncio.gather(*(http.post(path, json=body) for path, body in requests))
        for batcher in app.state.batchers.values():
            await batcher.close()
        return responses

    return asyncio.run(main())


def test_concurrent_requests_share_batches_and_get_their_own_results():
    echo = Echo()
    app = create_app({"echo": ServedModel("echo", "sentiment", echo)}, batching=Batching(max_batch=8, max_wait_ms=300))
    texts = [[f"r{i}-a", f"r{i}-b"] for i in range(6)] + [["bad"]]
    responses = gather(app, [("/v1/models/echo/predict", {"texts": t}) for t in texts])
    for sent, response in zip(texts[:-1], responses):
        assert [p["label"] for p in response.json()["predictions"]] == sent
    assert one_line_error(responses[-1], 422) == "a text the model refuses"  # and it failed no one else's request
    assert max(echo.calls) > 2 and all(size <= 8 for size in echo.calls)


def test_requests_with_different_options_are_never_merged():
    beam = Beam()
    app = create_app({"mt": ServedModel("mt", "translation", beam)}, batching=Batching(max_batch=16, max_wait_ms=300))
    bodies = [{"texts": [f"s{i}"], **({"beam_size": 2} if i % 2 else {})} for i in range(8)]
    responses = gather(app, [("/v1/models/mt/predict", body) for body in bodies])
    for body, response in zip(bodies, responses):
        assert response.json()["outputs"] == [f"{body['texts'][0]}|{body.get('beam_size')}"]
    assert sorted(size for size, _ in beam.calls) == [4, 4] and {tuple(o.items()) for _, o in beam.calls} == {(), (("beam_size", 2),)}


async def until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def test_a_lone_request_does_not_wait_for_company():
    echo = Echo()
    app = create_app({"echo": ServedModel("echo", "sentiment", echo)}, batching=Batching(max_wait_ms=2000))

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as http:
            seconds = []
            for i in range(3):  # one after the other: nothing else can join any of them
                began = time.monotonic()
                response = await http.post("/v1/models/echo/predict", json={"texts": [f"t{i}"]})
                seconds.append(time.monotonic() - began)
                assert response.json()["predictions"][0]["label"] == f"t{i}"
        await app.state.batchers["echo"].close()
        return seconds

    seconds = asyncio.run(main())
    assert max(seconds) < 0.5, seconds  # not max_wait_ms (2 s)
    assert echo.calls == [1, 1, 1] and app.state.batchers["echo"].in_flight == 0


def test_requests_queued_while_the_model_is_busy_share_the_next_batch():
    model = Blocking()
    started, release = model.started, model.release
    app = create_app({"slow": ServedModel("slow", "sentiment", model)}, batching=Batching(max_batch=8, max_wait_ms=0))
    batcher = app.state.batchers["slow"]

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as http:
            first = asyncio.create_task(http.post("/v1/models/slow/predict", json={"texts": ["first"]}))
            await until(started.is_set)
            later = [asyncio.create_task(http.post("/v1/models/slow/predict", json={"texts": [f"r{i}", f"s{i}"]})) for i in range(5)]
            await until(lambda: batcher.depth == 5)
            release.set()
            responses = await asyncio.gather(first, *later)
        await batcher.close()
        return responses

    responses = asyncio.run(main())
    assert [p["label"] for p in responses[0].json()["predictions"]] == ["first"]
    for i, response in enumerate(responses[1:]):
        assert [p["label"] for p in response.json()["predictions"]] == [f"r{i}", f"s{i}"]
    assert model.calls == [1, 8, 2]  # the first alone; then the queued ones, in order, max_batch items at a time


def test_a_batch_waits_for_a_request_in_flight_at_most_max_wait():
    def run(max_wait_ms: float) -> tuple[list[int], list[httpx.Response], float]:
        echo = Echo()
        app = create_app({"echo": ServedModel("echo", "sentiment", echo)}, batching=Batching(max_wait_ms=max_wait_ms))
        batcher = app.state.batchers["echo"]

        async def slow_body():  # a client whose body is still on its way when the other request is queued
            yield b'{"texts": ["sl'
            await asyncio.sleep(0.3)
            yield b'ow"]}'

        async def main():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as http:
                slow = asyncio.create_task(http.post("/v1/models/echo/predict", content=slow_body(), headers={"content-type": "application/json"}))
                await until(lambda: batcher.in_flight == 1)
                began = time.monotonic()
                quick = await http.post("/v1/models/echo/predict", json={"texts": ["quick"]})
                seconds = time.monotonic() - began
                responses = [quick, await slow]
            await batcher.close()
            assert batcher.in_flight == 0
            return responses, seconds

        responses, seconds = asyncio.run(main())
        return echo.calls, responses, seconds

    calls, (quick, slow), seconds = run(max_wait_ms=1000)  # the slow request joins the quick one's batch
    assert calls == [2] and quick.json()["predictions"][0]["label"] == "quick" and slow.json()["predictions"][0]["label"] == "slow"
    assert 0.25 < seconds < 5
    calls, (quick, slow), _ = run(max_wait_ms=20)  # it does not wait longer than max_wait_ms: the quick one went alone
    assert calls == [1, 1] and slow.json()["predictions"][0]["label"] == "slow"


def test_a_full_queue_is_a_503_with_retry_after():
    model = Blocking()
    started, release = model.started, model.release
    app = create_app({"slow": ServedModel("slow", "sentiment", model)}, batching=Batching(max_batch=1, queue_size=2, max_wait_ms=0))
    batcher, body = app.state.batchers["slow"], {"texts": ["x"]}

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30) as http:
            running = asyncio.create_task(http.post("/v1/models/slow/predict", json=body))
            await until(started.is_set)
            waiting = [asyncio.create_task(http.post("/v1/models/slow/predict", json=body)) for _ in range(2)]
            await until(lambda: batcher.depth == 2)
            refused = await http.post("/v1/models/slow/predict", json=body)
            release.set()
            answered = await asyncio.gather(running, *waiting)
        await batcher.close()
        return refused, answered

    refused, answered = asyncio.run(main())
    assert "retry later" in one_line_error(refused, 503) and refused.headers["retry-after"] == "1"
    assert [r.status_code for r in answered] == [200, 200, 200]


def test_a_request_not_answered_in_time_is_a_504():
    app = create_app({"slow": ServedModel("slow", "sentiment", Echo(delay=0.6))}, batching=Batching(timeout_s=0.2))
    (response,) = gather(app, [("/v1/models/slow/predict", {"texts": ["x"]})])
    assert one_line_error(response, 504) == "model 'slow' did not answer within 0.2 s"


def test_a_model_failure_is_a_500_with_one_line_and_no_traceback(caplog):
    class Broken:
        def predict(self, texts):
            raise RuntimeError("CUDA fell over\nwith a second line")

    app = create_app({"broken": ServedModel("broken", "sentiment", Broken())})
    (response,) = gather(app, [("/v1/models/broken/predict", {"texts": ["x"]})])
    assert "CUDA" not in one_line_error(response, 500)
    assert "CUDA fell over" in caplog.text  # the server's log has the traceback


# ---- API key and CORS ------------------------------------------------------------------------------


def test_an_api_key_guards_every_route_but_liveness():
    app = create_app({"echo": ServedModel("echo", "sentiment", Echo())}, api_key="s3cret")
    with TestClient(app) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/").status_code == 200  # the page's shell: no data, it asks for the key
        missing = http.get("/v1/models")
        assert "API key is required" in one_line_error(missing, 401) and missing.headers["www-authenticate"] == "Bearer"
        assert one_line_error(http.post("/v1/models/echo/predict", json={"texts": ["a"]}), 401)
        assert one_line_error(http.get("/metrics", headers={"X-API-Key": "wrong"}), 403) == "the API key is wrong"
        assert http.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        answered = http.post("/v1/models/echo/predict", json={"texts": ["a"]}, headers={"X-API-Key": "s3cret"})
        assert answered.json()["predictions"][0]["label"] == "a"


def test_cors_is_off_unless_an_origin_is_given():
    models = {"echo": ServedModel("echo", "sentiment", Echo())}
    with TestClient(create_app(models)) as http:
        assert "access-control-allow-origin" not in http.get("/v1/models", headers={"Origin": "https://elsewhere.example"}).headers
    with TestClient(create_app(models, cors_origins=["https://app.example"])) as http:
        allowed = http.get("/v1/models", headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"


def test_the_api_mounts_in_another_app_behind_its_key():
    from fastapi import FastAPI

    host = FastAPI()
    host.mount("/nlp", create_app({"echo": ServedModel("echo", "sentiment", Echo())}, api_key="s3cret"))
    with TestClient(host) as http:
        assert http.get("/nlp/healthz").status_code == 200 and http.get("/nlp/v1/models").status_code == 401
        key = {"X-API-Key": "s3cret"}
        assert http.post("/nlp/v1/models/echo/predict", json={"texts": ["a"]}, headers=key).json()["predictions"][0]["label"] == "a"
        assert 'nlp_apps_requests_total{model="echo",endpoint="predict",status="200"} 1' in http.get("/nlp/metrics", headers=key).text


# ---- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [("lm", "expected NAME=DIR"), ("lm=/no/such/dir", "no model directory"), ("bad name=default", "a model name")])
def test_a_bad_model_option_is_a_one_line_usage_error(spec, message):
    from nlp_apps.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--model", spec])
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and len(errors) == 1 and message in errors[0], result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sigterm_answers_the_request_in_flight_then_exits_0(tiny_language_model):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "nlp_apps.cli", "serve", "--model", f"lm={tiny_language_model}", "--port", str(port),
               "--max-new-tokens", "20000", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/healthz"):
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        with ThreadPoolExecutor(1) as pool:
            body = {"prompt": "The cat", "max_tokens": 2500, "seed": 1}  # a second or two of generation
            pending = pool.submit(httpx.post, f"{base}/v1/models/lm/generate", json=body, timeout=60)
            deadline = time.monotonic() + 10
            while 'nlp_apps_requests_in_flight{model="lm"} 1' not in httpx.get(f"{base}/metrics", timeout=5).text:
                assert time.monotonic() < deadline and not pending.done(), "the request never got in flight"
                time.sleep(0.02)
            server.send_signal(signal.SIGTERM)
            response = pending.result(timeout=60)
        assert response.status_code == 200 and len(response.json()["text"]) > 100
        assert server.wait(timeout=30) == 0, server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
