"""Dynamic batching: concurrent requests to one model are gathered into one call of its pipeline.

Each model has one `Batcher`: a bounded queue of requests and one worker task on the event loop that
takes the oldest request together with every queued request with the same options (up to `max_batch`
items) and runs them as one batch on the model's own thread (torch never runs on the event loop).
Requests with different options (say, another beam size) are never merged: they wait for a batch of
their own. Each request gets its own slice of the results, in order.

When to dispatch: requests pile up in the queue while the model is busy, so under load batches form
without anyone waiting. When the model is idle, the batch starts with what is queued and waits for
company (until it holds `max_batch` items, at most `max_wait_ms`) only if other requests to this
model are in flight outside the queue: received (`InFlightMiddleware` counts each request from its
headers to the end of its answer) and not queued, i.e. still arriving (a body being read or
validated) or being answered. Both mean concurrent traffic, where more requests follow within
milliseconds (clients that send their next request as soon as they have an answer, say). A lone
request never waits: nothing else is in flight, so a wait would only add to its latency.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from nlp_apps.serve.paths import model_route

log = logging.getLogger("nlp_apps.serve")


@dataclass(frozen=True)
class Batching:
    max_batch: int = 32  # items (texts, questions, prompts) per call of the model
    max_wait_ms: float = 5.0  # how long a batch may wait for company, when other requests are in flight (a lone one never waits)
    queue_size: int = 256  # requests waiting per model; one more is a 503
    timeout_s: float = 30.0  # a request not answered by then is a 504

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.queue_size < 1 or self.max_wait_ms < 0 or not self.timeout_s > 0:
            raise ValueError("max_batch and queue_size must be at least 1, max_wait_ms at least 0 and timeout_s positive")


class QueueFull(Exception):
    """The model's queue holds queue_size requests already."""


class RequestTimeout(Exception):
    """The request was not answered within timeout_s."""


class ShuttingDown(Exception):
    """The server is stopping and takes no new requests."""


@dataclass(eq=False)
class Job:
    key: Hashable  # requests with equal keys may share a batch
    items: list
    future: asyncio.Future


class Batcher:
    """run(key, items) -> one result per item, called on the model's thread with one batch at a time."""

    def __init__(self, name: str, run: Callable[[Hashable, list], list], config: Batching,
                 on_batch: Callable[[int], None] | None = None):
        self.name, self.run, self.config = name, run, config
        self.on_batch = on_batch or (lambda size: None)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")
        self.pending: deque[Job] = deque()
        self.in_flight = 0  # requests to this model received and not yet answered (counted by InFlightMiddleware)
        self.closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task | None = None
        self._wakeup: asyncio.Event | None = None

    @property
    def depth(self) -> int:
        return len(self.pending)

    async def submit(self, key: Hashable, items: list) -> list:
        """The results for `items`, once a batch holding them has run."""
        if self.closing:
            raise ShuttingDown
        self._start()
        if len(self.pending) >= self.config.queue_size:
            self.pending = deque(job for job in self.pending if not job.future.done())  # forget the ones that timed out
            if len(self.pending) >= self.config.queue_size:
                raise QueueFull
        job = Job(key, list(items), self._loop.create_future())
        self.pending.append(job)
        self._wakeup.set()
        try:
            done, _ = await asyncio.wait({job.future}, timeout=self.config.timeout_s)
        finally:
            if not job.future.done():  # timed out, or the request was cancelled: the worker skips the job
                job.future.cancel()
        if not done:
            raise RequestTimeout
        return job.future.result()

    async def close(self) -> None:
        """Take no new requests, answer the ones queued, then stop the model's thread."""
        self.closing = True
        if self._worker is not None and self._loop is asyncio.get_running_loop():
            self._wakeup.set()
            await self._worker
        await asyncio.to_thread(self.executor.shutdown, wait=True)

    def _start(self) -> None:
        """The worker lives on the loop that serves requests (a new loop, as in some test clients, gets a new worker)."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._loop is not loop or self._worker.done():
            self._loop, self._wakeup, self.pending = loop, asyncio.Event(), deque()
            self._worker = loop.create_task(self._work(), name=f"batcher-{self.name}")

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                if self.closing:
                    return
                await self._wait(None)
                continue
            key = self.pending[0].key
            deadline = loop.time() + self.config.max_wait_ms / 1000
            # The model is idle here (one worker, one batch at a time): wait for company only if some request is in
            # flight outside the queue (arriving, or just answered); else nothing can join, and a wait is pure latency.
            company = self.in_flight > sum(not job.future.done() for job in self.pending)
            while company and not self.closing and self._queued_items(key) < self.config.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0 or not await self._wait(remaining):
                    break
            jobs = self._take(key)
            if jobs:
                await self._execute(jobs)

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for a new request (True) or the timeout (False)."""
        self._wakeup.clear()
        waiter = asyncio.ensure_future(self._wakeup.wait())
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
        finally:
            waiter.cancel()
        return bool(done)

    def _queued_items(self, key: Hashable) -> int:
        return sum(len(job.items) for job in self.pending if job.key == key and not job.future.done())

    def _take(self, key: Hashable) -> list[Job]:
        """The oldest requests with `key` that fit in one batch (always at least one), in arrival order."""
        taken, kept, size, full = [], deque(), 0, False
        for job in self.pending:
            if job.future.done():  # timed out or abandoned while it waited
                continue
            if job.key == key and not full and (not taken or size + len(job.items) <= self.config.max_batch):
                taken.append(job)
                size += len(job.items)
            else:
                full = full or job.key == key
                kept.append(job)
        self.pending = kept
        return taken

    async def _execute(self, jobs: list[Job]) -> None:
        items = [item for job in jobs for item in job.items]
        self.on_batch(len(items))
        try:
            results = await self._loop.run_in_executor(self.executor, self.run, jobs[0].key, items)
            if len(results) != len(items):
                raise RuntimeError(f"model {self.name!r} returned {len(results)} results for {len(items)} inputs")
        except Exception as exc:
            if len(jobs) > 1:  # one request's bad input must not fail the others: run each on its own
                for job in jobs:
                    await self._execute([job])
                return
            _settle(jobs[0], error=exc)
            return
        start = 0
        for job in jobs:
            _settle(job, results[start : start + len(job.items)])
            start += len(job.items)


class InFlightMiddleware:
    """Counts each POST to a model's endpoint in that model's batcher's `in_flight`, from its headers (its body may
    still be streaming in) to the end of its answer: what tells a batch whether company may come."""

    def __init__(self, app: ASGIApp, batchers: Mapping[str, Batcher]):
        self.app, self.batchers = app, batchers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = model_route(scope) if scope["type"] == "http" and scope.get("method") == "POST" else None
        batcher = self.batchers.get(route[0]) if route is not None else None
        if batcher is None:
            await self.app(scope, receive, send)
            return
        batcher.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            batcher.in_flight -= 1


def _settle(job: Job, results: list | None = None, error: Exception | None = None) -> None:
    if job.future.done():  # its request timed out or went away while the batch ran
        return
    if error is not None:
        job.future.set_exception(error)
    else:
        job.future.set_result(results)
