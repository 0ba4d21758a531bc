"""Where a plan's credentials may go: the host each connection talks to, and the environment
variables a plan may name.

Plans come from pull requests; credentials come from the environment billplan runs in (a CI
job's secrets). So a plan decides what to bill, never where a credential goes:

- A connection talks to its vendor's own host, over https. Only whoever runs billplan can say
  otherwise, outside the plan: `--endpoint VENDOR=URL` or BILLPLAN_<VENDOR>_BASE_URL (https, or
  http to this machine), or a served sandbox for every connection (`--sandbox-url URL` or
  BILLPLAN_SANDBOX_URL), which is sent the sandbox's token and never a real one.
- A plan's `token_env` names the vendor's own variable, or it followed by `_` and a suffix
  (RUDDR_API_TOKEN_EU, for a second workspace); `dsn_env` names BILLPLAN_PG_DSN or
  BILLPLAN_PG_DSN_<SUFFIX>. Nothing else in the environment can be named.

Hosts are set per vendor, not per connection: a connection's name and type are the plan's, so a
host set for a connection name would let a pull request aim one vendor's token at the host set
for another vendor.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # `billplan --help` reads the flags here: no YAML for it
    from compiler.load import PathKey

SANDBOX_URL_ENV = "BILLPLAN_SANDBOX_URL"
ENDPOINT_FLAG = "--endpoint"
SANDBOX_URL_FLAG = "--sandbox-url"
IN_PROCESS = "--sandbox"  # who chose the in-process sandbox's (networkless) address
DEFAULT = "default"  # who chose a vendor's own host: nobody needed to
# What may follow a variable's own name: `_` and capitals or digits, in words of them.
SUFFIX = "(_[A-Z0-9]+)*"
DSN_ENV = "BILLPLAN_PG_DSN"  # the postgres state's connection string


class EndpointError(Exception):
    """A host set outside the plan that billplan will not send a token to; the message names
    the flag or variable and says what would be accepted."""


# ---- the variables a plan may name ----------------------------------------------------------


def family(own: str) -> str:
    """The pattern (anchored, for the JSON Schema) of the variables a plan may name in place
    of `own`: `own` itself, or `own` followed by `_` and a suffix such as EU."""
    return f"^{re.escape(own)}{SUFFIX}$"


def may_name(own: str, name: str) -> bool:
    return re.fullmatch(re.escape(own) + SUFFIX, name) is not None


def family_words(own: str, example: str = "EU") -> str:
    return f"{own}, or {own}_ followed by a suffix of capitals and digits (e.g. {own}_{example})"


def token_env_problem(title: str, own: str, name: Any) -> str | None:
    """Why a connection's `token_env` cannot be used, or None."""
    if isinstance(name, str) and may_name(own, name):
        return None
    return (
        f"{_shown(name)} is not a {title} token variable: a plan may name only "
        f"{family_words(own)}, so that a plan edit cannot send another secret to {title}. "
        f"Put this connection's token in one of those"
    )


def dsn_env_problem(name: Any) -> str | None:
    """Why the postgres state's `dsn_env` cannot be used, or None."""
    if isinstance(name, str) and may_name(DSN_ENV, name):
        return None
    return (
        f"{_shown(name)} is not a billplan state variable: a plan may name only "
        f"{family_words(DSN_ENV, 'ACME')}, so that a plan edit cannot connect billplan to "
        "another database. Put the state's connection string in one of those"
    )


def base_url_env(vendor: str) -> str:
    """The variable that sets a vendor's host outside the plan: BILLPLAN_RUDDR_BASE_URL."""
    return f"BILLPLAN_{vendor.upper()}_BASE_URL"


def base_url_problem(vendor: Any) -> str:
    """Why `base_url` in a plan is refused, and what to use instead."""
    name = vendor if isinstance(vendor, str) and vendor else "VENDOR"
    return (
        "`base_url` is not read from a plan, so that a plan edit cannot choose where a token "
        f"is sent. Remove it; to use another host for {name}, set {base_url_env(name)}=URL "
        f"or pass {ENDPOINT_FLAG} {name}=URL where billplan runs (https, or http to this "
        f"machine); for a served sandbox, set {SANDBOX_URL_ENV} (`billplan sandbox serve` "
        "prints it)"
    )


def connection_problems(root: Mapping[str, Any]) -> Iterator[tuple[PathKey, str, bool]]:
    """(path, message, at the key) for every connection that would choose a host or name a
    variable it may not: billplan's own check, beside the schema's."""
    providers = root.get("providers")
    if not isinstance(providers, Mapping):
        return
    for name, config in providers.items():
        if not isinstance(config, Mapping):
            continue
        vendor = config.get("type")
        if "base_url" in config:
            yield ("providers", name, "base_url"), base_url_problem(vendor), True
        if "token_env" not in config or not isinstance(vendor, str):
            continue
        # The vendors' tables live with their clients, which import httpx: only when needed.
        from compiler.providers import PROVIDERS

        provider = PROVIDERS.get(vendor)
        if provider is None:
            continue  # an unknown type is the schema's to report
        problem = token_env_problem(provider.title, provider.default_token_env, config["token_env"])
        if problem is not None:
            yield ("providers", name, "token_env"), problem, False


def state_problems(root: Mapping[str, Any]) -> Iterator[tuple[PathKey, str, bool]]:
    """(path, message, at the key) for a `state:` block naming a variable it may not."""
    state = root.get("state")
    if isinstance(state, Mapping) and "dsn_env" in state:
        problem = dsn_env_problem(state["dsn_env"])
        if problem is not None:
            yield ("state", "dsn_env"), problem, False


def plan_problems(root: Mapping[str, Any]) -> list[tuple[PathKey, str, bool]]:
    return [*connection_problems(root), *state_problems(root)]


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"
    return text if len(text) <= 60 else text[:57] + "..."


# ---- the hosts ------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(url: str, source: str) -> str:
    """`url` without a trailing slash, if billplan may send a token there: https, or http to
    this machine; no user or password, query or fragment. EndpointError otherwise."""
    form = "a URL such as https://api.example.com/v1, or http://127.0.0.1:8765 on this machine"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise EndpointError(f"{source}: {_shown(url)} is not {form}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise EndpointError(f"{source}: {_shown(url)} is not {form}")
    if parts.username is not None or parts.password is not None:
        raise EndpointError(
            f"{source}: the URL holds a user or password; give the host only (tokens come "
            "from the vendor's token variable)"
        )
    if parts.query or parts.fragment:
        raise EndpointError(f"{source}: {_shown(url)} has a query or fragment; give the base URL")
    if parts.scheme == "http" and not is_loopback(host):
        raise EndpointError(
            f"{source}: {url.strip()} is plain http to {host}: billplan sends tokens only over "
            "https, or over http to this machine (127.0.0.1, ::1, localhost)"
        )
    return url.strip().rstrip("/")


@dataclass(frozen=True)
class Endpoint:
    """Where one connection's requests go, who chose that, and the variable its token comes
    from (None: the sandbox's own token)."""

    connection: str
    vendor: str
    base_url: str
    chosen_by: str  # DEFAULT, IN_PROCESS, a flag (`--endpoint`) or a variable's name
    token_env: str | None

    @property
    def host(self) -> str:
        if self.chosen_by == IN_PROCESS:
            return "in process (no network)"
        return urlsplit(self.base_url).netloc

    @property
    def origin(self) -> str:
        """Who chose the host, in words."""
        if self.chosen_by == DEFAULT:
            return "the vendor's own"
        if self.chosen_by == IN_PROCESS:
            return "the built-in sandbox (--sandbox)"
        if self.token_env is None:
            return f"a served sandbox ({self.chosen_by})"
        return f"set by {self.chosen_by}"

    @property
    def token(self) -> str:
        """The token sent, in words: a variable's name, never a value."""
        return "the sandbox's token" if self.token_env is None else f"${self.token_env}"

    def to_json(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "vendor": self.vendor,
            "host": self.host,
            "base_url": self.base_url,
            "chosen_by": self.chosen_by,
            "token_env": self.token_env,
        }


@dataclass(frozen=True)
class Override:
    url: str
    source: str  # the flag or variable that set it


@dataclass(frozen=True)
class Hosts:
    """The hosts set outside the plan, by whoever runs billplan: one per vendor, or a served
    sandbox for every connection."""

    vendors: Mapping[str, Override] = field(default_factory=dict)
    sandbox: Override | None = None

    @classmethod
    def configured(
        cls,
        environ: Mapping[str, str],
        vendors: Iterable[str],
        endpoints: Sequence[str] = (),
        sandbox_url: str | None = None,
    ) -> Hosts:
        """From BILLPLAN_<VENDOR>_BASE_URL and BILLPLAN_SANDBOX_URL in `environ`, and the
        `--endpoint VENDOR=URL` and `--sandbox-url URL` flags, which win over them."""
        known = sorted(vendors)
        chosen: dict[str, Override] = {}
        for vendor in known:
            variable = base_url_env(vendor)
            if environ.get(variable):
                chosen[vendor] = Override(checked_url(environ[variable], variable), variable)
        for given in endpoints:
            vendor, sep, url = given.partition("=")
            vendor = vendor.strip().lower()
            if not sep or vendor not in known:
                raise EndpointError(
                    f"{ENDPOINT_FLAG} {given}: give VENDOR=URL, VENDOR one of "
                    f"{', '.join(known)} (a host is set per vendor, not per connection)"
                )
            source = f"{ENDPOINT_FLAG} {vendor}"
            chosen[vendor] = Override(checked_url(url, source), ENDPOINT_FLAG)
        sandbox = None
        if sandbox_url:
            sandbox = Override(checked_url(sandbox_url, SANDBOX_URL_FLAG), SANDBOX_URL_FLAG)
        elif environ.get(SANDBOX_URL_ENV):
            sandbox = Override(
                checked_url(environ[SANDBOX_URL_ENV], SANDBOX_URL_ENV), SANDBOX_URL_ENV
            )
        return cls(chosen, sandbox)

    def endpoint(
        self, connection: str, vendor: str, default_base_url: str, token_env: str
    ) -> Endpoint:
        """Where a connection to a real vendor (not a sandbox) goes."""
        override = self.vendors.get(vendor)
        if override is None:
            return Endpoint(connection, vendor, default_base_url, DEFAULT, token_env)
        return Endpoint(connection, vendor, override.url, override.source, token_env)
