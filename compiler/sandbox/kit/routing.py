"""Routes as data: a `Collection` declares what a vendor API or an admin surface serves for one
kind of object (list, create, read, update, delete, actions on one object), `routes_from` turns
(method, path, endpoint) rows into Starlette routes, and `PrefixMount` owns every path below a
vendor's API root."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Collection:
    """One kind of object at `path`: the collection (listing, create), each object at
    `path/<member>` (read, update, delete), and actions on one object, each a POST to
    `action_path` (`{member}/{action}` unless the vendor spells it otherwise). `member` is how
    a path names one object ("{id}", "{id:int}")."""

    path: str
    listing: Endpoint | None = None
    create: Endpoint | None = None
    read: Endpoint | None = None
    update: Endpoint | None = None
    delete: Endpoint | None = None
    actions: Mapping[str, Endpoint] = field(default_factory=dict)
    member: str = "{id}"
    update_method: str = "PATCH"
    action_path: str = "{member}/{action}"

    def rows(self) -> list[tuple[str, str, Endpoint]]:
        member = f"{self.path}/{self.member}"
        wanted = [
            ("GET", self.path, self.listing),
            ("POST", self.path, self.create),
            ("GET", member, self.read),
            (self.update_method, member, self.update),
            ("DELETE", member, self.delete),
        ]
        rows = [(method, path, endpoint) for method, path, endpoint in wanted if endpoint]
        for action, endpoint in self.actions.items():
            rows.append(("POST", self.action_path.format(member=member, action=action), endpoint))
        return rows


def collection_routes(collections: Iterable[Collection]) -> list[BaseRoute]:
    return routes_from(row for collection in collections for row in collection.rows())


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
