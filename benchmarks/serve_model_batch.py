"""What batching can gain for a sentiment model behind `nlp-apps serve`: the model's own gain, and what HTTP costs.

  model  in this process, no HTTP: the model's `predict` on N single texts, one call each (`single`, ms per text),
         against one call with the same N texts (`batched`, ms per text); gain = single / batched.
  http   the same server stack (`create_app` under uvicorn, on 127.0.0.1) over a stub sentiment model that answers at
         once (no torch): requests/s and the CPU time per request of the server process and of this client, at 1 and
         at N clients, one text per request as in benchmarks/serve.py. That is what every request costs outside the
         model.

With `h` = the stub's CPU ms per request (server + client, at N clients), batching can raise the requests/s of a
server whose clients share its CPU at most `bound` = (h + single) / (h + batched) times (in CPU ms) (every batch full, the CPU
the only limit); the stub's requests/s at N clients is the ceiling of any model on this stack and machine.

    python -m benchmarks.serve_model_batch --sentiment runs/sst2 [--texts 32] [--rounds 20] [--seconds 60]
        [--threads 1] [--precision fp32,bf16] [--http-requests 3000] [--http-seconds 60] [--only model,http]
    NLP_APPS_BENCH_DRY=1 python -m benchmarks.serve_model_batch ...   # nothing stored

Rounds of `model` alternate the two ways (one at a time first in even rounds, the batch first in odd ones), so a
change in the machine's load (a shared machine) falls on both alike; a row gives the median of the rounds and their
spread. Rows go to benchmarks/results/serve_model_batch.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.lib.fingerprint import machine_fingerprint
from benchmarks.lib.results import ROOT, load_average, store_row
from benchmarks.serve import REVIEWS, Workload, drive, free_port

PHASES = ("model", "http")
NOTES = ("model: in process, no HTTP: single = the model's predict([text]) for each of `texts` texts one after another (ms "
         "per text), batched = one predict(texts) call with the same texts (ms per text); gain = single / batched; median "
         "over `rounds` rounds alternating which way runs first, spread = min-max of the per-round gain; the *_cpu_* figures "
         "and cpu_gain: the same in CPU time of this process (only the model runs in it), which a shared machine inflates "
         "less than wall time. The texts are "
         "benchmarks/serve.py's sentiment requests (REVIEWS, cycled). http: create_app under uvicorn on 127.0.0.1 over a stub "
         "sentiment model that answers at once, driven by this process (benchmarks/serve.py's closed-loop client, one text "
         "per request): rps, CPU ms per answered request of the server process (all threads) and of the client. bound = "
         "(h + single_cpu) / (h + batched_cpu) with h = the stub's server + client CPU ms per request at `texts` clients: the most "
         "batching can raise requests/s when server and client share the CPU.")

STUB_SERVER = """
import sys
import uvicorn
from nlp_apps.serve import Batching, ServedModel, create_app

class Stub:  # a sentiment model that answers at once: what is left is HTTP, JSON, validation and the batcher
    def predict(self, texts):
        return [{"label": "1", "probabilities": {"0": 0.25, "1": 0.75}} for _ in texts]

app = create_app({"sentiment": ServedModel("sentiment", "sentiment", Stub())}, batching=Batching(max_batch=int(sys.argv[2])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def measure_model(pipeline, texts: list[str], rounds: int, seconds: float) -> dict:
    """Wall and CPU ms per text, one at a time and batched (CPU: this process's, which only runs the model here; on a
    machine shared with other work, CPU time is what the model costs, wall time also holds the waits for a core)."""
    pipeline.predict(texts)  # lazy initialisation and the precision choice, not timed
    pipeline.predict(texts[:1])
    times = {"single": [], "batched": []}  # (wall, cpu) ms per text, per round
    deadline = time.monotonic() + seconds
    for r in range(rounds):
        if time.monotonic() > deadline:
            break
        for way in (("single", "batched") if r % 2 == 0 else ("batched", "single")):
            began, cpu = time.perf_counter(), time.process_time()
            if way == "single":
                for text in texts:
                    pipeline.predict([text])
            else:
                pipeline.predict(texts)
            times[way].append(((time.perf_counter() - began) * 1000 / len(texts), (time.process_time() - cpu) * 1000 / len(texts)))
    row = {"rounds": len(times["batched"])}
    for i, kind in enumerate(("", "cpu_")):
        single, batched = ([t[i] for t in times[way]] for way in ("single", "batched"))
        gains = [a / b for a, b in zip(single, batched)]
        row |= {f"single_{kind}ms_per_text": round(statistics.median(single), 3), f"batched_{kind}ms_per_text": round(statistics.median(batched), 3),
                f"{kind}gain": round(statistics.median(gains), 2), f"{kind}spread": f"{min(gains):.2f}-{max(gains):.2f}"}
    return row


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_http(concurrencies: list[int], max_batch: int, requests: int, seconds: float) -> list[dict]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", STUB_SERVER, str(port), str(max_batch)], cwd=ROOT)
    rows = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("error: the stub server did not start")
            time.sleep(0.2)
        workload = Workload("sentiment", "sentiment", "predict", lambda i: {"texts": [REVIEWS[i % len(REVIEWS)]]})
        asyncio.run(drive(base, lambda i: workload, 200, 8, 30, 60))  # warm-up
        for concurrency in concurrencies:
            load_start, cpu = load_average(), cpu_seconds(server.pid)
            load = asyncio.run(drive(base, lambda i: workload, requests, concurrency, seconds, 60))
            load.server_cpu_s = cpu_seconds(server.pid) - cpu
            figures = load.figures()
            row = {"row": f"http stub sentiment c={concurrency}", "concurrency": concurrency, "max_batch": max_batch,
                   **{k: figures[k] for k in ("sent", "ok", "errors", "seconds", "rps", "p50_ms", "p99_ms",
                                              "server_cpu_ms_per_req", "client_cpu_ms_per_req")},
                   "load_start": load_start, "load_end": load_average()}
            print(f"# {row['row']}: {row['rps']} req/s, p50 {row['p50_ms']} ms, CPU ms/request server {row['server_cpu_ms_per_req']} "
                  f"client {row['client_cpu_ms_per_req']}, load {load_start}-{row['load_end']}", file=sys.stderr, flush=True)
            rows.append(row)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentiment", metavar="DIR", help="a sentiment model directory (for the model phase)")
    parser.add_argument("--texts", type=int, default=32, help="texts per batch (the server's --max-batch), and clients of http")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="time cap of the model phase per precision")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the server's nlp-apps --threads)")
    parser.add_argument("--precision", default="fp32,bf16", type=lambda s: s.split(","))
    parser.add_argument("--http-requests", type=int, default=3000, help="requests per http point")
    parser.add_argument("--http-seconds", type=float, default=60.0, help="time cap per http point")
    parser.add_argument("--only", default=",".join(PHASES), type=lambda s: s.split(","))
    args = parser.parse_args()
    if unknown := set(args.only) - set(PHASES):
        parser.error(f"--only: unknown phase(s) {', '.join(sorted(unknown))} (phases: {', '.join(PHASES)})")
    if "model" in args.only and not args.sentiment:
        parser.error("the model phase needs --sentiment DIR")

    import torch

    torch.set_num_threads(args.threads)
    machine_fingerprint()
    rows = []
    if "http" in args.only:
        rows += measure_http([1, args.texts], args.texts, args.http_requests, args.http_seconds)
    stub = next((r for r in rows if r["concurrency"] == args.texts), None)
    overhead = stub["server_cpu_ms_per_req"] + stub["client_cpu_ms_per_req"] if stub and stub["server_cpu_ms_per_req"] else None
    if "model" in args.only:
        import nlp_apps

        texts = [REVIEWS[i % len(REVIEWS)] for i in range(args.texts)]
        for precision in args.precision:
            pipeline = nlp_apps.load(args.sentiment, precision=precision)
            load_start = load_average()
            figures = measure_model(pipeline, texts, args.rounds, args.seconds)
            bound = None
            if overhead is not None:
                bound = round((overhead + figures["single_cpu_ms_per_text"]) / (overhead + figures["batched_cpu_ms_per_text"]), 2)
            row = {"row": f"sentiment predict {args.texts} texts {precision}", "model": args.sentiment, "texts": args.texts,
                   "precision": precision, "threads": args.threads, **figures, "http_cpu_ms_per_req": overhead, "bound": bound,
                   "load_start": load_start, "load_end": load_average()}
            print(f"# {row['row']}: one at a time {row['single_ms_per_text']} ms/text (CPU {row['single_cpu_ms_per_text']}), batched "
                  f"{row['batched_ms_per_text']} (CPU {row['batched_cpu_ms_per_text']}), gain {row['gain']}x ({row['spread']}; CPU "
                  f"{row['cpu_gain']}x); HTTP {overhead} CPU ms/request -> bound {bound}x; "
                  f"load {load_start}-{row['load_end']}", file=sys.stderr, flush=True)
            rows.append(row)
    store_row("serve_model_batch", rows, notes=NOTES)


if __name__ == "__main__":
    main()
