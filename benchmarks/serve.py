"""`nlp-apps serve` under load: requests/s and latency per model with batching on and off, a long mixed run
(5xx count, resident memory), and a schema-driven fuzz of the OpenAPI document.

Each phase runs a real `nlp-apps serve` process on 127.0.0.1 (a free port) and drives it over HTTP from
this process (httpx, asyncio; one request = one text, or one QA question, or one prompt):

  points   for each served model and endpoint, at each --concurrency (1, 8, 32): --requests requests
           (a closed loop: each of the C clients sends its next request when the last is answered),
           at most --point-seconds per point; once with batching on (--max-batch 32, --max-wait-ms 5)
           and once with it off (a server with --max-batch 1): requests/s, p50/p95/p99 latency of
           the answered requests, the mean items per model call (from /metrics), errors. With --rounds N
           (N > 1), both servers run at once and each point is measured in N rounds that alternate the
           two servers (--requests/N requests, --point-seconds/N seconds each), so that a machine shared
           with other work loads both alike; a row pools its rounds, and `speedup_rounds` is the median
           of the rounds' paired ratios.
  mixed    --mixed requests (10,000) spread at random over every model and endpoint, --mixed-concurrency
           (32) at once, on the batching server after the points warmed it up: 5xx and other failures,
           latency, and the server's resident memory (VmRSS, VmHWM of /proc/PID/status) before and after,
           and every --rss-every (1,000) answered requests (`rss_series`: a leak keeps growing, memory
           an allocator keeps after larger batches levels off). --warm-batch N first sends each endpoint
           N items at once (one request of N texts, or N generate requests together), the largest batch
           the run can form, before the "warm" sample.
  fuzz     schemathesis generates requests from the served /openapi.json (valid ones, and invalid ones that
           must be refused with a 4xx), --fuzz-examples per operation and mode, sent to a server with small
           request limits (so the largest valid request stays quick): no 5xx, every status documented,
           every response valid against its schema. Needs `pip install schemathesis` (the `bench` extra).

--endpoints measures only the named endpoints in the points and mixed phases (an endpoint's action, e.g.
`generate`, or model/action, e.g. `lm/perplexity`); the other stored rows are kept.

Models: the language model --lm (default: the shipped `default`; `--lm none` leaves it out: its
perplexity and generate endpoints are measured), and the task model directories given with --sentiment,
--translation, --summarization and --qa (any not given is left out).

    python -m benchmarks.serve [--sentiment DIR] [--translation DIR] [--summarization DIR] [--qa DIR] [--lm default]
        [--requests 200] [--concurrency 1,8,32] [--point-seconds 120] [--mixed 10000] [--mixed-concurrency 32]
        [--fuzz-examples 50] [--only points,mixed,fuzz] [--endpoints generate,...] [--threads N] [--precision auto|fp32|bf16]
        [--rounds 1] [--rss-every 1000] [--warm-batch 0] [--server-env NAME=VALUE ...]
    NLP_APPS_BENCH_DRY=1 python -m benchmarks.serve --requests 20 --mixed 200 --fuzz-examples 5 ...   # a smoke run, nothing stored
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx
import numpy as np

from benchmarks.lib.fingerprint import machine_fingerprint
from benchmarks.lib.results import ROOT, load_average, store_row

TASKS = ("sentiment", "translation", "summarization", "qa")
PHASES = ("points", "mixed", "fuzz")
MAX_WAIT_MS, MAX_BATCH = 5.0, 32
FUZZ_LIMITS = ["--max-texts", "4", "--max-chars", "400", "--max-new-tokens", "32"]
NOTES = ("One `nlp-apps serve` process on 127.0.0.1 (two, batching on and off, with `rounds`), driven over HTTP by this "
         "script on the same machine (its client shares the CPU). One request = one text (QA: one question; generate: one "
         "prompt, max_tokens = --generate-tokens, 20, and seed = the request's number, so no two share options). Points: a "
         "closed loop of `concurrency` clients, `requests` requests or `point_seconds`, whichever ends first; batching on = "
         "--max-batch 32 --max-wait-ms 5, off = --max-batch 1 (another server process); latency of answered requests; "
         "mean_batch = items per model call (server /metrics); speedup = rps with batching / rps without, same model and "
         "concurrency; rounds: the point was measured in that many rounds alternating the two servers (rps_rounds), "
         "speedup_rounds = median of the paired ratios; server_cpu_ms_per_req / client_cpu_ms_per_req = CPU time (user + "
         "system, all threads) of the server process / of this client process per answered request. Dispatch rule of batching "
         "on: rows measured from 2026-12-06 12:24 UTC wait for company (up to max_wait_ms) only while other requests to the "
         "model are in flight outside its queue; 11:20-12:24 only while requests were still arriving; earlier rows: every "
         "batch waited up to max_wait_ms. mixed: random models and endpoints on the batching server, after the points when "
         "they ran (with --only mixed, after 3 warm-up requests per endpoint); warm_batch: each endpoint first ran a batch "
         "that large; server_env: the server's extra environment; rss from /proc/PID/status, rss_series = [requests done, "
         "VmRSS MB]. fuzz: schemathesis (positive and negative cases) against a server with small request limits.")

# ---- what the clients send ---------------------------------------------------------------------------

REVIEWS = [
    "A gorgeous, witty film that never talks down to its audience.",
    "The plot is thin and the jokes land with a thud.",
    "I laughed, I cried, and I would happily watch it again tomorrow.",
    "Two hours of my life that I will never get back.",
    "The lead gives the performance of her career in a role that could have been a cliche.",
    "It looks expensive, but there is nothing underneath the gloss.",
    "A quiet, patient story about grief that earns every one of its tears.",
    "The second half drags, and the ending makes no sense at all.",
    "Sharp writing, a great score and a cast that clearly had fun.",
    "Even the actors seem bored by the end.",
    "One of the most original thrillers in years.",
    "A muddled, overlong mess with a few good scenes buried inside it.",
]
GERMAN = [
    "Ein Mann in einem blauen Hemd steht auf einer Leiter und putzt ein Fenster.",
    "Zwei Kinder spielen am Strand mit einem roten Ball.",
    "Eine Frau fährt mit dem Fahrrad durch eine belebte Straße.",
    "Ein Hund springt über einen Zaun auf einer grünen Wiese.",
    "Mehrere Leute sitzen in einem Café und trinken Kaffee.",
    "Ein junger Mann spielt Gitarre vor einem großen Publikum.",
    "Ein kleines Mädchen in einem gelben Kleid lacht.",
    "Arbeiter reparieren die Straße neben einem alten Gebäude.",
    "Eine Gruppe von Menschen wandert auf einem Berg im Schnee.",
    "Ein älterer Herr liest eine Zeitung auf einer Parkbank.",
]
EMAILS = [
    ("Hi all, the budget review has moved from Thursday to Friday at 10am in room 4B. Please bring your updated forecasts "
     "and the headcount numbers we discussed last week. Let me know if you cannot make it."),
    ("John, attached is the signed contract for the Houston pipeline deal. Legal has approved the changes to section 3, "
     "so we can send it to the counterparty today. Call me if anything looks off."),
    ("Team, the trading floor will be closed on Monday for the network upgrade. Remote access will work as usual, but the "
     "shared drives will be offline between 6 and 9 in the morning."),
    ("Sara, thanks for the draft of the quarterly report. I made a few edits to the risk section and added the latest "
     "price curves. Can you review them before we send it to the board on Wednesday?"),
    "Reminder: expense reports for October are due by the end of this week. Late reports will be processed next month.",
    ("Please find the revised schedule for the plant maintenance below. Unit 2 will be down from the 12th to the 15th, "
     "and unit 3 will follow the week after. Operations has signed off on both windows."),
]
PASSAGES = [
    (("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the engineer "
      "Gustave Eiffel, whose company designed and built the tower. It was constructed from 1887 to 1889 as the centerpiece "
      "of the 1889 World's Fair, and it was 312 metres tall when it was finished."),
     ["Who designed the Eiffel Tower?", "When was the tower built?", "How tall was the tower when it was finished?"]),
    (("The Amazon rainforest covers much of the Amazon basin of South America. The basin covers seven million square "
      "kilometres, of which five and a half million are covered by the rainforest. The majority of the forest is "
      "contained within Brazil, with 60% of the rainforest, followed by Peru with 13% and Colombia with 10%."),
     ["How much of the forest is in Brazil?", "Which country has 13% of the rainforest?", "How large is the basin?"]),
    (("Marie Curie was a Polish and naturalised-French physicist and chemist who conducted pioneering research on "
      "radioactivity. She was the first woman to win a Nobel Prize, the first person to win a Nobel Prize twice, and the "
      "only person to win a Nobel Prize in two scientific fields. She was born in Warsaw in 1867."),
     ["Where was Marie Curie born?", "What did she research?", "In what year was she born?"]),
]
QUESTIONS = [(context, question) for context, questions in PASSAGES for question in questions]
PROMPTS = ["The old house at the end of the street", "When the train finally arrived", "Scientists have found that",
           "The best way to learn a language is", "She opened the letter and"]


@dataclass(frozen=True)
class Workload:
    """One model endpoint and the bodies its requests carry (request i gets body(i))."""

    model: str
    task: str
    endpoint: str
    body: Callable[[int], dict]

    @property
    def path(self) -> str:
        return f"/v1/models/{self.model}/{self.endpoint}"

    @property
    def name(self) -> str:
        return f"{self.model}/{self.endpoint}"


def workloads(models: dict[str, str], generate_tokens: int) -> list[Workload]:
    """The endpoints measured for the served models ({name: task}), in the order of TASKS, the LM last."""
    found = []
    for name, task in models.items():
        if task == "sentiment":
            found.append(Workload(name, task, "predict", lambda i: {"texts": [REVIEWS[i % len(REVIEWS)]]}))
        elif task == "translation":
            found.append(Workload(name, task, "predict", lambda i: {"texts": [GERMAN[i % len(GERMAN)]]}))
        elif task == "summarization":
            found.append(Workload(name, task, "predict", lambda i: {"texts": [EMAILS[i % len(EMAILS)]]}))
        elif task == "qa":
            found.append(Workload(name, task, "predict", lambda i: {"inputs": [dict(zip(("context", "question"), QUESTIONS[i % len(QUESTIONS)]))]}))
        elif task == "language_model":
            found.append(Workload(name, task, "perplexity", lambda i: {"texts": [REVIEWS[i % len(REVIEWS)]]}))
            found.append(Workload(name, task, "generate", lambda i: {"prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": generate_tokens, "seed": i}))
    rank = {task: i for i, task in enumerate((*TASKS, "language_model"))}
    return sorted(found, key=lambda w: rank.get(w.task, len(rank)))


# ---- the server --------------------------------------------------------------------------------------


class Server:
    """`nlp-apps serve` in a subprocess on a free port of 127.0.0.1; stopped by SIGTERM (then killed) on exit."""

    def __init__(self, specs: list[str], options: list[str], threads: int | None, log_dir: Path, label: str, start_timeout: float,
                 precision: str | None = None, env: dict[str, str] | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server-{label}.log"
        root = [sys.executable, "-m", "nlp_apps.cli", *(["--threads", str(threads)] if threads else []),
                *(["--precision", precision] if precision else [])]
        self.command = [*root, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                        *[arg for spec in specs for arg in ("--model", spec)], *options]
        self.start_timeout = start_timeout
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        log = self.log_path.open("w")
        self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                sys.exit(f"error: the server did not get ready ({' '.join(self.command)}):\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self) -> dict[str, float]:
        """Resident memory now (VmRSS) and at its peak so far (VmHWM), in MB."""
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = round(int(value.split()[0]) / 1024, 1)
        return fields

    def models(self) -> dict[str, str]:
        return {m["name"]: m["task"] for m in httpx.get(f"{self.base}/v1/models", timeout=10).json()["models"]}

    def batch_totals(self) -> dict[str, tuple[float, float]]:
        """{model: (items, calls)} so far, from the nlp_apps_batch_size histogram of /metrics."""
        totals: dict[str, list[float]] = {}
        for line in httpx.get(f"{self.base}/metrics", timeout=10).text.splitlines():
            found = re.match(r'nlp_apps_batch_size_(sum|count)\{model="([^"]+)"\} (\S+)', line)
            if found:
                totals.setdefault(found[2], [0.0, 0.0])[found[1] == "count"] = float(found[3])
        return {model: (items, calls) for model, (items, calls) in totals.items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- load ------------------------------------------------------------------------------------------


@dataclass
class Load:
    sent: int
    seconds: float
    statuses: Counter  # HTTP status, or the transport error's name
    latencies_s: list[float]  # of the answered (200) requests
    client_cpu_s: float = 0.0  # CPU time of this process (the clients) while it ran
    server_cpu_s: float = 0.0  # CPU time of the server process (every thread), when the caller measured it

    def figures(self) -> dict:
        ok = self.statuses.get(200, 0)
        ms = np.array(self.latencies_s) * 1000 if self.latencies_s else np.array([np.nan])
        p50, p95, p99 = (round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99))
        per_request = {f"{who}_cpu_ms_per_req": round(1000 * cpu / ok, 2) if ok and cpu else None
                       for who, cpu in (("server", self.server_cpu_s), ("client", self.client_cpu_s))}
        return {"sent": self.sent, "ok": ok, "errors": self.sent - ok, "seconds": round(self.seconds, 2), **per_request,
                "rps": round(ok / self.seconds, 2) if self.seconds else None, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                "statuses": ",".join(f"{k}:{v}" for k, v in sorted(self.statuses.items(), key=str))}


async def drive(base: str, pick: Callable[[int], Workload], requests: int, concurrency: int, cap_s: float, timeout_s: float,
                every: int = 0, progress: Callable[[int], None] | None = None) -> Load:
    """`concurrency` clients send requests 0..requests-1 (request i goes to pick(i)) until all are sent or cap_s passes;
    progress(done) is called after every `every` finished requests."""
    statuses, latencies, sent, done = Counter(), [], 0, 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=timeout_s, limits=limits) as client:
        start, cpu_start = time.perf_counter(), time.process_time()
        deadline = start + cap_s

        async def client_loop() -> None:
            nonlocal sent
            nonlocal done
            while sent < requests and time.perf_counter() < deadline:
                i, sent = sent, sent + 1
                workload = pick(i)
                began = time.perf_counter()
                try:
                    status = (await client.post(workload.path, json=workload.body(i))).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                statuses[status] += 1
                if status == 200:
                    latencies.append(time.perf_counter() - began)
                done += 1
                if every and progress is not None and done % every == 0:
                    progress(done)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return Load(sent, seconds, statuses, latencies, client_cpu_s=cpu)


def warm_up(server: Server, loads: list[Workload], rounds: int = 3) -> None:
    """A few requests to each endpoint (first calls pay for lazy initialisation), not measured."""
    for workload in loads:
        asyncio.run(drive(server.base, lambda i, w=workload: w, rounds, 1, 60, 120))


def warm_batch(server: Server, loads: list[Workload], items: int) -> None:
    """Each endpoint once with `items` items at a time: one request of `items` texts (questions), or `items` generate
    requests at once (one prompt each; the batcher joins them), so the model runs the largest batch of the run."""
    for workload in loads:
        if workload.endpoint == "generate":
            asyncio.run(drive(server.base, lambda i, w=workload: w, items, items, 300, 300))
            continue
        bodies = [workload.body(i) for i in range(items)]
        field = next(iter(bodies[0]))  # "texts" or "inputs": the one list field of these bodies
        body = {field: [item for b in bodies for item in b[field]]}
        status = httpx.post(f"{server.base}{workload.path}", json=body, timeout=300).status_code
        if status != 200:
            sys.exit(f"error: the warm-up batch of {items} items to {workload.name} was answered {status}")


def measure_points(server: Server, loads: list[Workload], batching: str, args) -> list[dict]:
    rows = []
    for workload in loads:
        for concurrency in args.concurrency:
            before, load_start, cpu = server.batch_totals().get(workload.model, (0, 0)), load_average(), server.cpu_seconds()
            load = asyncio.run(drive(server.base, lambda i, w=workload: w, args.requests, concurrency, args.point_seconds, args.timeout))
            load.server_cpu_s = server.cpu_seconds() - cpu
            after = server.batch_totals().get(workload.model, (0, 0))
            rows.append(point_row(workload, batching, concurrency, load, (after[0] - before[0], after[1] - before[1]), load_start, args))
    return rows


def measure_points_interleaved(servers: dict[str, Server], loads: list[Workload], args) -> list[dict]:
    """Each point in args.rounds rounds, the servers ({"on": ..., "off": ...}) taking turns (the order flips every round)."""
    requests, seconds = max(1, args.requests // args.rounds), args.point_seconds / args.rounds
    rows = []
    for workload in loads:
        for concurrency in args.concurrency:
            pooled = {label: [Load(0, 0.0, Counter(), []), [0.0, 0.0], [], None] for label in servers}  # load, batch totals, rps per round, load_start
            for r in range(args.rounds):
                for label in (list(servers) if r % 2 == 0 else list(servers)[::-1]):
                    server, (total, batch, per_round, _) = servers[label], pooled[label]
                    if pooled[label][3] is None:
                        pooled[label][3] = load_average()
                    before, cpu = server.batch_totals().get(workload.model, (0, 0)), server.cpu_seconds()
                    load = asyncio.run(drive(server.base, lambda i, w=workload: w, requests, concurrency, seconds, args.timeout))
                    total.server_cpu_s += server.cpu_seconds() - cpu
                    total.client_cpu_s += load.client_cpu_s
                    after = server.batch_totals().get(workload.model, (0, 0))
                    total.sent, total.seconds = total.sent + load.sent, total.seconds + load.seconds
                    total.statuses.update(load.statuses)
                    total.latencies_s += load.latencies_s
                    batch[0], batch[1] = batch[0] + after[0] - before[0], batch[1] + after[1] - before[1]
                    per_round.append(round(load.statuses.get(200, 0) / load.seconds, 2) if load.seconds else 0.0)
            for label, (total, batch, per_round, load_start) in pooled.items():
                row = point_row(workload, label, concurrency, total, batch, load_start, args, requests * args.rounds)
                rows.append({**row, "rounds": args.rounds, "rps_rounds": per_round})
    return rows


def point_row(workload: Workload, batching: str, concurrency: int, load: Load, batch: tuple[float, float], load_start: float, args,
              requests: int | None = None) -> dict:
    items, calls = batch
    requests = requests or args.requests
    row = {"row": f"{workload.name} batching={batching} c={concurrency}", "model": workload.model, "task": workload.task,
           "endpoint": workload.endpoint, "batching": batching, "max_batch": MAX_BATCH if batching == "on" else 1,
           "max_wait_ms": MAX_WAIT_MS if batching == "on" else 0.0, "concurrency": concurrency, "requests": requests,
           **load.figures(), "mean_batch": round(items / calls, 2) if calls else None,
           "capped": load.sent < requests, "point_seconds": args.point_seconds,
           "server_threads": args.threads or "auto", "server_precision": args.precision or "auto",
           "load_start": load_start, "load_end": load_average()}
    print(f"# {row['row']}: {row['rps']} req/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, batch {row['mean_batch']}, "
          f"{row['errors']} errors, CPU ms/request server {row['server_cpu_ms_per_req']} client {row['client_cpu_ms_per_req']}, "
          f"load {load_start}-{row['load_end']}", file=sys.stderr, flush=True)
    return row


def measure_mixed(server: Server, loads: list[Workload], args) -> dict:
    rng = random.Random(args.seed)
    choice = [rng.randrange(len(loads)) for _ in range(args.mixed)]
    warm, load_start = server.memory_mb(), load_average()
    series = [(0, warm.get("VmRSS"))]

    def sample(done: int) -> None:
        series.append((done, server.memory_mb().get("VmRSS")))
        print(f"#   after {done} requests: RSS {series[-1][1]} MB", file=sys.stderr, flush=True)

    load = asyncio.run(drive(server.base, lambda i: loads[choice[i]], args.mixed, args.mixed_concurrency, args.mixed_seconds, args.timeout,
                             every=args.rss_every, progress=sample))
    end = server.memory_mb()
    five_xx = sum(n for status, n in load.statuses.items() if isinstance(status, int) and status >= 500)
    variant = " ".join([*([f"requests={args.mixed}"] if args.mixed != 10_000 else []),
                        *([f"warm_batch={args.warm_batch}"] if args.warm_batch else []), *args.server_env])
    row = {"row": f"mixed {variant}".strip(), "endpoints": ",".join(w.name for w in loads), "concurrency": args.mixed_concurrency, "requests": args.mixed,
           "batching": "on", "max_batch": MAX_BATCH, "max_wait_ms": MAX_WAIT_MS, **load.figures(), "5xx": five_xx,
           "capped": load.sent < args.mixed, "rss_mb_warm": warm.get("VmRSS"), "rss_mb_end": end.get("VmRSS"),
           "rss_growth_mb": round(end.get("VmRSS", 0) - warm.get("VmRSS", 0), 1), "rss_peak_mb": end.get("VmHWM"),
           "rss_growth_pct": round(100 * (end.get("VmRSS", 0) / warm["VmRSS"] - 1), 2) if warm.get("VmRSS") else None,
           "rss_every": args.rss_every, "rss_series": series, "warm_batch": args.warm_batch,
           "server_env": " ".join(args.server_env) or None,
           "server_threads": args.threads or "auto", "server_precision": args.precision or "auto",
           "load_start": load_start, "load_end": load_average()}
    print(f"# mixed: {row['ok']}/{row['sent']} answered, {five_xx} 5xx, {row['rps']} req/s, RSS {row['rss_mb_warm']} -> "
          f"{row['rss_mb_end']} MB", file=sys.stderr, flush=True)
    return row


# ---- fuzz ------------------------------------------------------------------------------------------


def fuzz(server: Server, args) -> dict:
    """Every operation of the served OpenAPI document, in schemathesis' positive and negative modes."""
    try:
        import schemathesis
        from hypothesis import HealthCheck, Phase, given, seed, settings
        from schemathesis import GenerationMode
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import content_type_conformance, negative_data_rejection, response_schema_conformance, status_code_conformance
    except ImportError:
        sys.exit("error: the fuzz needs schemathesis: pip install schemathesis (or -e '.[bench]'), or leave it out with --only points,mixed")

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    schema = schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses, failures, examples = Counter(), Counter(), 0
    first: dict[str, str] = {}  # one example of each kind of failure
    deadline = time.monotonic() + args.fuzz_seconds
    def fuzz_one(operation, mode) -> None:
        """args.fuzz_examples requests of one operation in one mode; what fails is counted, never raised (so nothing shrinks)."""
        modal_checks = checks + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

        @seed(args.seed)
        @settings(max_examples=args.fuzz_examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case) -> None:
            nonlocal examples
            if time.monotonic() > deadline:
                return
            examples += 1
            try:
                response = case.call(base_url=server.base, timeout=args.timeout)
            except Exception as exc:  # the server hung up, or timed out
                statuses[type(exc).__name__] += 1
                return
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=modal_checks)
            except BaseException as exc:  # a FailureGroup (a BaseExceptionGroup) of what failed
                for failure in getattr(exc, "exceptions", [exc]):
                    kind = f"{operation.method.upper()} {operation.path} {mode.value}: {type(failure).__name__} {response.status_code}"
                    failures[kind] += 1
                    body = case.body if isinstance(case.body, (dict, list, str)) else repr(case.body)
                    first.setdefault(kind, f"{kind} ({response.text[:80]!r} for {str(body)[:100]!r})")

        try:
            run()
        except Exception as exc:  # Unsatisfiable: no invalid request exists for an operation without parameters
            if type(exc).__name__ != "Unsatisfiable":
                raise

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_one(operation, mode)
    five_xx = sum(n for status, n in statuses.items() if isinstance(status, int) and status >= 500)
    row = {"row": "fuzz", "tool": f"schemathesis {schemathesis.SCHEMATHESIS_VERSION}", "operations": len(operations),
           "examples_per_mode": args.fuzz_examples, "examples": examples, "capped": time.monotonic() > deadline,
           "limits": " ".join(FUZZ_LIMITS), "statuses": ",".join(f"{k}:{v}" for k, v in sorted(statuses.items(), key=str)),
           "5xx": five_xx, "failed_checks": sum(failures.values()),
           "failures": "; ".join(f"{kind} x{n}" for kind, n in failures.most_common()), "failure_examples": " | ".join(first.values())}
    print(f"# fuzz: {examples} requests over {len(operations)} operations, {five_xx} 5xx, {row['failed_checks']} failed checks",
          file=sys.stderr, flush=True)
    for example in first.values():
        print(f"#   {example}", file=sys.stderr, flush=True)
    return row


# ---- the run ---------------------------------------------------------------------------------------


def order(row: dict) -> tuple:
    kind = 1 if row["row"].startswith("mixed") else {"fuzz": 2}.get(row["row"], 0)
    task_rank = {task: i for i, task in enumerate((*TASKS, "language_model"))}
    return (kind, task_rank.get(row.get("task"), 9), row.get("model", ""), row.get("endpoint", ""), row.get("concurrency", 0),
            row.get("batching") != "on")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for task in TASKS:
        parser.add_argument(f"--{task}", metavar="DIR", help=f"a {task} model directory to serve (left out when not given)")
    parser.add_argument("--lm", default="default", help="a language model directory or shipped backbone; 'none' leaves it out")
    parser.add_argument("--requests", type=int, default=200, help="requests per point")
    parser.add_argument("--concurrency", default="1,8,32", type=lambda s: [int(c) for c in s.split(",")])
    parser.add_argument("--point-seconds", type=float, default=120.0, help="time cap per point")
    parser.add_argument("--mixed", type=int, default=10_000, help="requests of the mixed run")
    parser.add_argument("--mixed-concurrency", type=int, default=32)
    parser.add_argument("--mixed-seconds", type=float, default=3600.0, help="time cap of the mixed run")
    parser.add_argument("--fuzz-examples", type=int, default=50, help="generated requests per operation and mode")
    parser.add_argument("--fuzz-seconds", type=float, default=900.0, help="time cap of the fuzz")
    parser.add_argument("--generate-tokens", type=int, default=20, help="max_tokens of each generate request")
    parser.add_argument("--only", default=",".join(PHASES), type=lambda s: s.split(","))
    parser.add_argument("--endpoints", type=lambda s: s.split(","), help="only these endpoints (action or model/action) in points and mixed [all]")
    parser.add_argument("--threads", type=int, help="torch threads of the server (nlp-apps --threads) [its own choice]")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                        help="the servers' precision (nlp-apps --precision) [auto: each server probes; on a busy machine each "
                             "probe can choose differently, so pin it to compare batching on and off]")
    parser.add_argument("--timeout", type=float, default=120.0, help="client timeout per request, seconds")
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds a server may take to load its models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="points: > 1 runs both servers at once and measures each point in this many rounds, alternating them")
    parser.add_argument("--rss-every", type=int, default=1000, help="mixed: sample the server's VmRSS every this many requests")
    parser.add_argument("--warm-batch", type=int, default=0, help="mixed: first send each endpoint this many items at once [0: not]")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server processes (e.g. MALLOC_ARENA_MAX=2); repeatable")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if bad := [item for item in args.server_env if "=" not in item]:
        parser.error(f"--server-env: expected NAME=VALUE, got {', '.join(bad)}")
    server_env = dict(item.split("=", 1) for item in args.server_env)
    if unknown := set(args.only) - set(PHASES):
        parser.error(f"--only: unknown phase(s) {', '.join(sorted(unknown))} (phases: {', '.join(PHASES)})")

    specs = [f"{task}={getattr(args, task)}" for task in TASKS if getattr(args, task)]
    specs += [] if args.lm.lower() == "none" else [f"lm={args.lm}"]
    if not specs:
        parser.error("nothing to serve: give --lm or a task model directory")
    machine_fingerprint()  # taken now, at the start, for every row of this run
    batching_on = ["--max-batch", str(MAX_BATCH), "--max-wait-ms", str(MAX_WAIT_MS)]
    rows: list[dict] = []
    batching_off = ["--max-batch", "1", "--max-wait-ms", "0"]
    interleave = "points" in args.only and args.rounds > 1
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as logs:
        logs = Path(logs)
        if "points" in args.only or "mixed" in args.only:
            with Server(specs, batching_on, args.threads, logs, "batching-on", args.start_timeout, args.precision, server_env) as server:
                loads = [w for w in workloads(server.models(), args.generate_tokens)
                         if not args.endpoints or w.endpoint in args.endpoints or w.name in args.endpoints]
                if not loads:
                    sys.exit(f"error: --endpoints {','.join(args.endpoints)} names none of the served endpoints")
                warm_up(server, loads)
                if interleave:
                    with Server(specs, batching_off, args.threads, logs, "batching-off", args.start_timeout, args.precision,
                                server_env) as off:
                        warm_up(off, loads)
                        rows += measure_points_interleaved({"on": server, "off": off}, loads, args)
                    speedups(rows)
                    store_row("serve", rows, order, NOTES)
                elif "points" in args.only:
                    rows += measure_points(server, loads, "on", args)
                    store_row("serve", rows, order, NOTES)
                if "mixed" in args.only:
                    if args.warm_batch:
                        warm_batch(server, loads, args.warm_batch)
                    rows.append(measure_mixed(server, loads, args))
                    store_row("serve", rows, order, NOTES)
        if "points" in args.only and not interleave:
            with Server(specs, batching_off, args.threads, logs, "batching-off", args.start_timeout, args.precision, server_env) as server:
                warm_up(server, loads)
                rows += measure_points(server, loads, "off", args)
            speedups(rows)
            store_row("serve", rows, order, NOTES)
        if "fuzz" in args.only:
            with Server(specs, FUZZ_LIMITS, args.threads, logs, "fuzz", args.start_timeout, args.precision, server_env) as server:
                rows.append(fuzz(server, args))
            store_row("serve", rows, order, NOTES)


def speedups(rows: list[dict]) -> None:
    """Each batching=on point gets `speedup`: its requests/s over the same point's without batching (and, measured in
    rounds, `speedup_rounds`: the median of the rounds' ratios, each on/off pair measured back to back)."""
    off = {(r["model"], r["endpoint"], r["concurrency"]): r for r in rows if r.get("batching") == "off" and "endpoint" in r}
    for row in rows:
        if row.get("batching") == "on" and "endpoint" in row:
            base = off.get((row["model"], row["endpoint"], row["concurrency"]))
            row["speedup"] = round(row["rps"] / base["rps"], 2) if base and base["rps"] and row["rps"] is not None else None
            pairs = list(zip(row.get("rps_rounds", []), base.get("rps_rounds", []) if base else []))
            if pairs and all(b for _, b in pairs):
                row["speedup_rounds"] = round(statistics.median(a / b for a, b in pairs), 2)


if __name__ == "__main__":
    main()
