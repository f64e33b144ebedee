"""An optional API key, checked on every request but the open paths (liveness, and the page's shell,
which holds no data and asks for the key itself). Give it as `Authorization: Bearer KEY` or `X-API-Key: KEY`."""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from nlp_apps.serve.paths import route_path

OPEN_PATHS = frozenset({"/healthz", "/"})


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, key: str, open_paths: frozenset[str] = OPEN_PATHS):
        if not key:
            raise ValueError("the API key must not be empty")
        self.app, self.key, self.open_paths = app, key.encode(), open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) in self.open_paths or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)  # OPTIONS: a CORS preflight carries no credentials
            return
        given = presented_key(Headers(scope=scope))
        if given is None:
            response = JSONResponse({"detail": "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        elif not hmac.compare_digest(given.encode(), self.key):
            response = JSONResponse({"detail": "the API key is wrong"}, status_code=403)
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


def presented_key(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None
