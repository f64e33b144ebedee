"""`nlp-apps serve`: the given models behind one HTTP API (see docs/serving.md)."""

from __future__ import annotations

import click


@click.command()
@click.option("--model", "specs", multiple=True, required=True, metavar="NAME=DIR",
              help="A model to serve under NAME: a model directory, or a shipped backbone's name (default). Repeatable.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(min=1), help="Items per call of a model.")
@click.option("--max-wait-ms", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Longest a batch waits for company while other requests are in flight (a lone request never waits).")
@click.option("--queue-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="Requests waiting per model; more are refused (503, Retry-After).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a request may take before it is answered 504.")
@click.option("--max-texts", default=64, show_default=True, type=click.IntRange(min=1), help="Texts (or questions) per request.")
@click.option("--max-chars", default=5000, show_default=True, type=click.IntRange(min=1), help="Characters per text.")
@click.option("--max-new-tokens", default=512, show_default=True, type=click.IntRange(min=1), help="Tokens one generate request may ask for.")
@click.option("--max-body-bytes", default=1_048_576, show_default=True, type=click.IntRange(min=1), help="Request body size; more is a 413.")
@click.option("--api-key", envvar="NLP_APPS_API_KEY", help="Require this key on every route but /healthz [env NLP_APPS_API_KEY].")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN", help="Allow browser calls from ORIGIN. Repeatable.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto (CUDA when present).")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(specs, host, port, max_batch, max_wait_ms, queue_size, timeout, max_texts, max_chars, max_new_tokens, max_body_bytes, api_key,
          cors_origins, device, log_level) -> None:
    """Serve models over HTTP: predictions for each task model, perplexity and generation for each language model,
    with dynamic batching, bounded queues, /healthz, /readyz, /metrics and a page to try them at /.

    \b
      nlp-apps serve --model sst2=runs/sentiment-demo --model lm=default
      curl -s localhost:8000/v1/models/sst2/predict -H 'Content-Type: application/json' -d '{"texts": ["a witty film"]}'

    SIGTERM or Ctrl-C stops taking requests, answers the ones in flight, and exits 0.
    """
    from nlp_apps.serve.models import ModelSpecError, check_specs

    try:
        check_specs(list(specs))  # before anything loads: a typo is an instant one-line error
    except ModelSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--model") from None

    from nlp_apps.serve import Batching, Limits, create_app, load_models
    from nlp_apps.serve.server import run
    from nlp_apps.training.trainer import resolve_device

    limits = Limits(max_texts=max_texts, max_chars=max_chars, max_new_tokens=max_new_tokens, max_body_bytes=max_body_bytes)
    batching = Batching(max_batch=max_batch, max_wait_ms=max_wait_ms, queue_size=queue_size, timeout_s=timeout)
    models = load_models(list(specs), device=str(resolve_device(device)))  # precision: auto, or nlp-apps --precision
    for model in models.values():
        click.echo(f"serving {model.name} ({model.task})", err=True)
    app = create_app(models, limits=limits, batching=batching, api_key=api_key, cors_origins=cors_origins)
    run(app, host=host, port=port, log_level=log_level, graceful_timeout_s=timeout + 5)
