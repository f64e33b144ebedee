"""Reading a request's path the way the router does (relative to where the API is mounted)."""

from __future__ import annotations

from starlette.types import Scope

MODELS_PREFIX = "/v1/models/"


def route_path(scope: Scope) -> str:
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def model_route(scope: Scope) -> tuple[str, str] | None:
    """(name, action) of a request to /v1/models/{name}/{action}, else None."""
    path = route_path(scope)
    if not path.startswith(MODELS_PREFIX):
        return None
    parts = path[len(MODELS_PREFIX):].split("/")
    return (parts[0], parts[1]) if len(parts) == 2 and parts[0] and parts[1] else None
