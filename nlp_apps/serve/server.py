"""Running the app under uvicorn, with a graceful stop that exits 0."""

from __future__ import annotations

import uvicorn


class Server(uvicorn.Server):
    """uvicorn's server: SIGTERM or Ctrl-C stops accepting connections, waits for the requests in flight,
    runs the app's shutdown (the batchers drain their queues) and returns. uvicorn then raises the signal
    again so that the process dies of it; here a stop asked for is a normal exit (status 0) instead."""

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        getattr(self, "_captured_signals", []).clear()


def run(app, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info", graceful_timeout_s: float | None = None) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=graceful_timeout_s)
    Server(config).run()
