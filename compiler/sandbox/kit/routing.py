"""Routes from (method, path, endpoint) rows, and the mount that owns every path below a
vendor's API root."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

Endpoint = Callable[[Request], Awaitable[Response]]


def routes_from(table: Iterable[tuple[str, str, Endpoint]]) -> list[BaseRoute]:
    """Starlette routes from (method, path, endpoint) rows; rows sharing a path become one route
    so that another method on that path answers 405."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, endpoint in table:
        by_path.setdefault(path, {})[method] = endpoint
    return [
        Route(path, _dispatcher(methods), methods=list(methods))
        for path, methods in by_path.items()
    ]


def _dispatcher(methods: Mapping[str, Endpoint]) -> Endpoint:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await methods[method](request)

    return dispatch


class PrefixMount(Mount):
    """A Mount that owns every path below its prefix. Starlette's matches what follows the
    prefix with `.*`, which stops at a line break, so a path holding one (an id sent as
    `a%0Ab`) fell through to Starlette's plain-text 404, which no vendor answers."""

    def __init__(
        self, path: str, app: ASGIApp | None = None, routes: Sequence[BaseRoute] | None = None
    ) -> None:
        super().__init__(path, app=app, routes=routes)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)
