"""Batched generation: `RNNLanguageModel.generate_batch`, the pipeline's `generate_batch` and the served
`generate` endpoint give each prompt exactly what it gets alone (seeded sampling and greedy), with prompts of
different lengths and per-row options, while concurrent generate requests share batches."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import torch

import nlp_apps
from nlp_apps.data.tokenizer import EOS_ID
from nlp_apps.models.backbone import BackboneConfig
from nlp_apps.models.lm import ROW_BLOCK, RNNLanguageModel, Sampling, pick_next
from nlp_apps.serve import Batching, ServedModel, create_app
from tests.test_backbone import CELLS

ODD = dict(vocab_size=13, emb_size=7, hidden_size=11, num_layers=2, bidirectional=True,
           input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)
PROMPTS = [[5, 6, 7, 8, 9, 10], [], [11], [4, 12, 4], [7, 7, 7, 7, 7, 7, 7, 7, 7]]


def odd_lm(cell="lstm", activation="tanh", **changes) -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(BackboneConfig(**{**ODD, "cell": cell, "activation": activation, **changes})).eval()


def rows(temperature: float, seed: int = 0) -> list[dict]:
    """Per-row options: different lengths, stop ids, first-banned ids, top-k / top-p, and a seed each."""
    options = [dict(max_new_tokens=12), dict(max_new_tokens=20, stop_ids=(EOS_ID, 9)), dict(max_new_tokens=1),
               dict(max_new_tokens=30, stop_ids=(4, 5, 6), top_k=5, first_banned_ids=(8, 9, 10)), dict(max_new_tokens=7, top_p=0.8)]
    return [dict(o, temperature=temperature, generator=torch.Generator().manual_seed(seed + 100 * i)) for i, o in enumerate(options)]


def alone(model, prompts, options) -> list[list[int]]:
    return [model.generate(prompt, **o) for prompt, o in zip(prompts, options)]


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("temperature", [0.0, 1.0, 0.7])
def test_a_batch_gives_each_row_what_it_gets_alone(cell, activation, temperature):
    model = odd_lm(cell, activation, tie_weights=cell != "gru")
    stopped_early = 0
    for seed in range(3):
        expected = alone(model, PROMPTS, rows(temperature, seed))
        assert model.generate_batch(PROMPTS, [Sampling(**o) for o in rows(temperature, seed)]) == expected
        for new, options in zip(expected, rows(temperature, seed)):
            stops = options.get("stop_ids", ())
            assert len(new) == options["max_new_tokens"] or (len(new) < options["max_new_tokens"] and new[-1] in stops)
            assert not set(new[:-1]) & set(stops)
            stopped_early += len(new) < options["max_new_tokens"]
        assert expected[3][0] not in (8, 9, 10)
    assert stopped_early or temperature == 0  # rows leave the batch at different steps


def test_rows_with_different_temperatures_and_options_share_a_batch():
    model = odd_lm()
    options = [dict(o, temperature=t) for o, t in zip(rows(1.0), (0.0, 1.3, 0.0, 0.5, 2.0))]
    expected = alone(model, PROMPTS, options)
    options = [dict(o, temperature=t) for o, t in zip(rows(1.0), (0.0, 1.3, 0.0, 0.5, 2.0))]  # fresh generators
    assert model.generate_batch(PROMPTS, [Sampling(**o) for o in options]) == expected


@pytest.mark.parametrize("cell,activation", [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "sigmoid")])
def test_a_batch_of_many_rows_spans_several_row_blocks(cell, activation):
    model = odd_lm(cell, activation)
    generator = torch.Generator().manual_seed(5)
    prompts = [torch.randint(4, 13, (int(n),), generator=generator).tolist() for n in torch.randint(0, 12, (3 * ROW_BLOCK + 3,), generator=generator)]
    options = [dict(max_new_tokens=3 + i % 11, temperature=(0.0, 1.0, 0.6)[i % 3], top_k=(None, 4)[i % 2], top_p=(None, None, 0.7)[i % 3],
                    stop_ids=(EOS_ID,) if i % 4 == 0 else ()) for i in range(len(prompts))]
    expected = alone(model, prompts, [dict(o, generator=torch.Generator().manual_seed(i)) for i, o in enumerate(options)])
    batched = model.generate_batch(prompts, [Sampling(**o, generator=torch.Generator().manual_seed(i)) for i, o in enumerate(options)])
    assert batched == expected and any(len(new) < o["max_new_tokens"] for new, o in zip(expected, options))


@pytest.mark.parametrize("cell,activation", [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "sigmoid")])
def test_each_rows_logits_are_the_same_bits_alone_and_in_any_batch(cell, activation):
    # Large enough that a BLAS product would round a row differently with another row count.
    torch.manual_seed(0)
    model = RNNLanguageModel(BackboneConfig(vocab_size=700, emb_size=48, hidden_size=96, num_layers=2, cell=cell, activation=activation,
                                            input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)).eval()
    generator = torch.Generator().manual_seed(1)
    prompts = [torch.randint(4, 700, (int(n),), generator=generator).tolist() for n in torch.randint(0, 9, (2 * ROW_BLOCK + 5,), generator=generator)]
    tokens = torch.randint(4, 700, (len(prompts),), generator=generator)
    with torch.no_grad():
        logits, state = model.read_prompts(prompts)
        hidden, _ = model.step_rows(tokens, state)
        stepped = model.decode_rows(hidden)
        for row, prompt in enumerate(prompts):
            alone, alone_state = model.read_prompts([prompt])
            assert torch.equal(logits[row], alone[0])
            alone_hidden, _ = model.step_rows(tokens[row : row + 1], alone_state)
            assert torch.equal(stepped[row], model.decode_rows(alone_hidden)[0])


def test_sampling_follows_each_rows_distribution():
    logits = torch.tensor([[0.0, 1.0, 2.0, float("-inf"), 0.5]] * 3)
    rows = [Sampling(), Sampling(top_k=2), Sampling(top_p=0.6, temperature=0.5)]
    generator = torch.Generator().manual_seed(0)
    rows = [Sampling(temperature=r.temperature, top_k=r.top_k, top_p=r.top_p, generator=generator) for r in rows]
    counts = torch.zeros(3, 5)
    for _ in range(4000):
        counts[torch.arange(3), torch.tensor(pick_next(logits, rows))] += 1
    frequencies = counts / 4000
    full = torch.softmax(logits[0], -1)
    two = torch.softmax(torch.tensor([1.0, 2.0]), -1)
    torch.testing.assert_close(frequencies[0], full, atol=0.025, rtol=0)
    torch.testing.assert_close(frequencies[1], torch.tensor([0, two[0], two[1], 0, 0]), atol=0.025, rtol=0)
    cold = torch.softmax(logits[0] / 0.5, -1)  # 0.67 on token 2, then 0.18 on token 1: top_p 0.6 keeps token 2 alone
    assert cold[2] > 0.6 and frequencies[2, 2] == 1


def test_one_sampling_for_all_rows_and_rows_with_nothing_to_generate():
    model = odd_lm()
    greedy = Sampling(max_new_tokens=5, temperature=0)
    assert model.generate_batch(PROMPTS, greedy) == [model.generate(p, max_new_tokens=5, temperature=0) for p in PROMPTS]
    assert model.generate_batch([[5], [6]], [Sampling(max_new_tokens=0), greedy]) == [[], model.generate([6], max_new_tokens=5, temperature=0)]
    assert model.generate_batch([], greedy) == []
    with pytest.raises(ValueError, match="one Sampling per prompt"):
        model.generate_batch([[5], [6]], [greedy])
    with pytest.raises(ValueError, match="temperature"):
        model.generate_batch([[5]], [Sampling(temperature=-1)])


def test_read_prompts_gives_each_rows_logits_and_state_after_its_own_last_token():
    model = odd_lm()
    logits, state = model.read_prompts(PROMPTS)
    for row, prompt in enumerate(PROMPTS):
        expected, expected_state = model.start(1)
        for token in prompt:
            expected, expected_state = model.step(torch.tensor([token]), expected_state)
        torch.testing.assert_close(logits[row], expected[0])
        for (h, c), (h1, c1) in zip(state, expected_state):
            torch.testing.assert_close(h[:, row], h1[:, 0])
            torch.testing.assert_close(c[:, row], c1[:, 0])


# ---- the pipeline and the served endpoint -----------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline(tiny_language_model):
    return nlp_apps.load(tiny_language_model)


PIPELINE_PROMPTS = ["The cat", "A dog finds two birds.", "Anna", "The river crosses the bridge and", "My old"]


def test_the_pipelines_batch_equals_one_prompt_at_a_time(pipeline):
    options = dict(max_tokens=[9, 3, 14, 6, 1], temperature=[0.8, 1.0, 1.5, 0.3, 1.0], top_k=[None, 20, None, None, 5],
                   top_p=[0.9, None, None, 0.95, None], seed=[3, 4, 3, None, 0], stop_at_newline=[False, True, False, True, False])
    seeded = [i for i, seed in enumerate(options["seed"]) if seed is not None]
    batched = pipeline.generate_batch(PIPELINE_PROMPTS, **options)
    for i in seeded:
        assert batched[i] == pipeline.generate(PIPELINE_PROMPTS[i], **{k: v[i] for k, v in options.items()})
    greedy = pipeline.generate_batch(PIPELINE_PROMPTS, max_tokens=8, temperature=0)
    assert greedy == [pipeline.generate(p, max_tokens=8, temperature=0) for p in PIPELINE_PROMPTS]
    assert pipeline.generate_batch(["The cat", "The cat"], seed=7) == [pipeline.generate("The cat", seed=7)] * 2
    with pytest.raises(ValueError, match="the prompt is empty"):
        pipeline.generate_batch(["The cat", "  "])
    with pytest.raises(ValueError, match="one per prompt"):
        pipeline.generate_batch(["The cat", "A dog"], seed=[1])


def served(pipeline, requests: list[dict], max_batch: int = 32) -> tuple[list[httpx.Response], str]:
    """Send generate requests concurrently on one event loop: their responses, and /metrics after them."""
    app = create_app({"lm": ServedModel("lm", "language_model", pipeline)}, batching=Batching(max_batch=max_batch, max_wait_ms=300))

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as http:
            responses = await asyncio.gather(*(http.post("/v1/models/lm/generate", json=body) for body in requests))
            metrics = (await http.get("/metrics")).text
        for batcher in app.state.batchers.values():
            await batcher.close()
        return responses, metrics

    return asyncio.run(main())


def batch_sizes(metrics: str) -> tuple[int, int]:
    """(model calls, items) of the lm's batch-size histogram."""
    count = re.search(r'nlp_apps_batch_size_count\{model="lm"\} (\S+)', metrics)
    total = re.search(r'nlp_apps_batch_size_sum\{model="lm"\} (\S+)', metrics)
    return int(float(count[1])), int(float(total[1]))


def test_concurrent_generate_requests_share_batches_and_get_what_they_get_alone(pipeline):
    requests = [{"prompt": PIPELINE_PROMPTS[i % 5], "max_tokens": 4 + 3 * (i % 4), "seed": i, **({"temperature": 0.5} if i % 3 else {}),
                 **({"top_k": 10} if i % 4 == 1 else {}), **({"top_p": 0.8} if i % 5 == 2 else {})} for i in range(12)]
    requests.append({"prompt": "The cat", "temperature": 1e-9, "max_tokens": 6})  # all but greedy
    responses, metrics = served(pipeline, requests)
    for body, response in zip(requests, responses):
        assert response.status_code == 200, response.text
        assert response.json()["text"] == pipeline.generate(**body)
    calls, items = batch_sizes(metrics)
    assert items == len(requests) and calls < len(requests)  # batches of more than one prompt, whatever their options

    one_at_a_time, metrics = served(pipeline, requests, max_batch=1)
    assert [r.json()["text"] for r in one_at_a_time] == [r.json()["text"] for r in responses]
    assert batch_sizes(metrics) == (len(requests), len(requests))


def test_a_refused_prompt_fails_only_its_own_request(pipeline):
    requests = [{"prompt": "The cat", "seed": 1, "max_tokens": 5}, {"prompt": "   "}, {"prompt": "Anna", "seed": 2, "max_tokens": 3}]
    responses, _ = served(pipeline, requests)
    assert responses[1].status_code == 422 and responses[1].json()["detail"] == "the prompt is empty: give some text to continue"
    assert [responses[i].json()["text"] for i in (0, 2)] == [pipeline.generate(**requests[i]) for i in (0, 2)]


class OnlyGenerate:
    """A language-model pipeline of another make: generate and perplexity, no generate_batch."""

    def __init__(self):
        self.calls = []

    def perplexity(self, text):
        raise NotImplementedError

    def generate(self, prompt, **options):
        self.calls.append(options)
        return f"{prompt}|{options['seed']}"


def test_a_pipeline_without_generate_batch_runs_one_prompt_at_a_time():
    stub = OnlyGenerate()
    responses, _ = served(stub, [{"prompt": f"p{i}", "seed": i} for i in range(4)])
    assert [r.json()["text"] for r in responses] == [f"p{i}|{i}" for i in range(4)]
    assert {tuple(sorted(c)) for c in stub.calls} == {("max_tokens", "seed", "temperature", "top_k", "top_p")}
