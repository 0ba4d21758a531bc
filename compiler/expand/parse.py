"""Step one of expansion: a schema-checked plan read into typed, located specs.

This module owns the plan's walk and what every charge shares: connections, settings
resolved from defaults to project to charge, options for the project's own vendor only,
templates merged (and the merge checked against the schema), the currency. Each kind's own
keys are read in parse_kinds.py. A problem stops the charge (or project) it is in, is
reported at the place it was written, and reading goes on with the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from compiler import schedule, vendors
from compiler.diagnostics import Diagnostic, Mark
from compiler.expand import written
from compiler.expand.parse_kinds import ChargeReader, Source
from compiler.expand.spec import Charge, ChargeSpec, Description, Invalid, ProjectSpec, Settings
from compiler.load import Document, PathKey
from compiler.model import SECTION, Kind

KINDS_BY_SECTION: dict[str, Kind] = {section: kind for kind, section in SECTION.items()}
# The fewest requests a second a connection may be paced to: below one, a plan of a few
# hundred changes would take hours to apply.
MIN_RPS = 1

Revalidate = Callable[[Kind, dict[str, Any]], list[tuple[PathKey, str]]]


class Parser:
    """Reads one plan's settings, projects and charges into specs, reporting what is wrong.

    projects() and charges() are lazy: a charge is read only when the one before it has been
    computed, so that once a limit of the whole plan stops the expansion, nothing after it
    is reported.
    """

    def __init__(
        self,
        doc: Document,
        as_of: date,
        skip: Callable[[PathKey], bool],
        revalidate: Revalidate | None,
        report: Callable[[Diagnostic], None],
    ) -> None:
        self.doc = doc
        self.root = doc.root
        self.as_of = as_of
        self.skip = skip
        self.revalidate = revalidate
        self.report = report
        self.vars: Mapping[str, Any] = self.root.get("vars") or {}
        self.templates: Mapping[str, Any] = self.root.get("templates") or {}
        self.providers: Mapping[str, Any] = self.root.get("providers") or {}
        # Read once for the plan: every layer of settings and every charge looks them up.
        self.vendors = vendors.names()
        # The keys of a layer (defaults, project, charge) that change the settings in force.
        self.setting_keys = frozenset(
            {"currency", "rounding", "holidays", "horizon", "adjust", *self.vendors}
        )
        # The last settings and vendor, with the options and marks they give (_vendor_options).
        self._options_for: tuple[Settings, str, Mapping[str, Any], Mapping[str, Mark]] | None = None

    def error(self, path: PathKey, message: str) -> None:
        self.report(self.doc.diagnostic(path, message))

    # -- the plan ---------------------------------------------------------------------------

    def defaults(self) -> Settings | None:
        """The plan-wide settings, or None when they (or the connections) cannot be read."""
        if self.skip(("defaults",)) or self.skip(("providers",)):
            return None
        self._check_connections()
        return self._settings(None, self.root.get("defaults") or {}, ("defaults",))

    def _check_connections(self) -> None:
        for name, provider in self.providers.items():
            rate = provider.get("max_rps") if isinstance(provider, Mapping) else None
            if (
                isinstance(rate, int | float | Decimal)
                and not isinstance(rate, bool)
                and rate < MIN_RPS
            ):
                self.error(
                    ("providers", name, "max_rps"),
                    f"max_rps {rate} is below {MIN_RPS} request a second, at which a plan of "
                    "a few hundred changes takes hours to apply; give 1 or more",
                )

    def projects(
        self, defaults: Settings, keys: Iterable[str] | None = None
    ) -> Iterator[ProjectSpec]:
        """The projects that read well, in the order written; with keys, only those."""
        written = self.root.get("projects") or {}
        for key in written if keys is None else keys:
            project = written[key]
            path: PathKey = ("projects", key)
            if self._project_header_broken(path, project):
                continue
            spec = self._project(key, project, path, defaults)
            if spec is not None:
                yield spec

    def _project_header_broken(self, path: PathKey, project: Any) -> bool:
        if not isinstance(project, dict):
            return True
        if "provider" not in project or "project_id" not in project:
            return True  # the schema already said which one is missing
        # An error on the project mapping itself (an unknown key) leaves its charges checkable;
        # a broken header value (provider, currency, ...) does not.
        return any(self.skip((*path, key)) for key in project if key not in KINDS_BY_SECTION)

    def _project(
        self, key: str, project: dict[str, Any], path: PathKey, defaults: Settings
    ) -> ProjectSpec | None:
        provider_name = project["provider"]
        provider = self.providers.get(provider_name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            self.error(
                (*path, "provider"),
                f"provider {provider_name!r} is not defined under `providers` (defined: {known})",
            )
            return None
        vendor = provider["type"]
        if self._foreign_options(project, path, vendor):
            return None
        settings = self._settings(defaults, project, path)
        if settings is None:
            return None
        contract_value = None
        if "contract_value" in project:
            try:
                contract_value = written.money(
                    project["contract_value"], (*path, "contract_value"), settings.currency
                )
            except Invalid as problem:
                self.error(problem.path, problem.message)
                return None
        return ProjectSpec(
            key=key,
            path=path,
            provider=provider_name,
            vendor=vendor,
            project_id=project["project_id"],
            name=project.get("name", key),
            contract_value=contract_value,
            settings=settings,
        )

    def cap(self, project: ProjectSpec) -> Decimal | None:
        """The project's cap in its currency; None when it has none (or no currency to read
        it in), or when it is written wrong (reported).

        Read after the project's charges, as the cap is checked against them: a plan stopped
        by a limit on the way there never reports it.
        """
        written_cap = self._raw(project.path).get("cap")
        currency = project.settings.currency
        if written_cap is None or currency is None:
            return None
        try:
            return written.money(written_cap, (*project.path, "cap"), currency)
        except Invalid as problem:
            self.error(problem.path, problem.message)
            return None

    def milestone_keys(self, project: ProjectSpec) -> dict[str, tuple[str, ...] | None]:
        """Each milestone written in the project, with its split parts (None: not split),
        read from the YAML so that a milestone that fails to read is still known by name."""
        keys: dict[str, tuple[str, ...] | None] = {}
        for key, raw in (self._raw(project.path).get("milestones") or {}).items():
            if not isinstance(raw, Mapping):
                continue
            template = self.templates.get(raw.get("use")) if "use" in raw else None
            split = raw.get("split") or (template or {}).get("split")
            parts = split.get("parts") if isinstance(split, Mapping) else None
            keys[key] = tuple(parts) if isinstance(parts, Mapping) else None
        return keys

    def _raw(self, path: PathKey) -> Mapping[str, Any]:
        node: Any = self.root
        for key in path:
            node = node[key]
        return node

    # -- settings ---------------------------------------------------------------------------

    def _settings(
        self,
        parent: Settings | None,
        layer: Mapping[str, Any],
        path: PathKey,
        where: Callable[..., PathKey] | None = None,
    ) -> Settings | None:
        if parent is not None and self.setting_keys.isdisjoint(layer):
            return parent  # most charges set nothing of their own: their project's settings
        holidays = parent.holidays if parent else frozenset()
        if "holidays" in layer:
            try:
                holidays = frozenset(
                    written.calendar_date(text, (*path, "holidays", i))
                    for i, text in enumerate(layer["holidays"])
                )
            except Invalid as problem:
                self.error(problem.path, problem.message)
                return None
        horizon = parent.horizon if parent else None
        horizon_path = parent.horizon_path if parent else None
        if "horizon" in layer:
            try:
                horizon = schedule.parse_duration(layer["horizon"])
            except ValueError as exc:
                self.error((*path, "horizon"), str(exc))
                return None
            horizon_path = (*path, "horizon")
        options: dict[str, Mapping[str, Any]] = dict(parent.options) if parent else {}
        option_paths = dict(parent.option_paths) if parent else {}
        locate = where or (lambda *keys: (*path, *keys))
        for vendor in self.vendors:
            if vendor in layer:
                options[vendor] = {**options.get(vendor, {}), **layer[vendor]}
                option_paths[vendor] = {
                    **option_paths.get(vendor, {}),
                    **{key: locate(vendor, key) for key in layer[vendor]},
                }
        return Settings(
            currency=layer.get("currency", parent.currency if parent else None),
            rounding=layer.get("rounding", parent.rounding if parent else "half_up"),
            holidays=holidays,
            horizon=horizon,
            horizon_path=horizon_path,
            options=options,
            option_paths=option_paths,
            adjust=layer.get("adjust", parent.adjust if parent else None),
        )

    def _foreign_options(self, layer: Mapping[str, Any], path: PathKey, vendor: str) -> bool:
        found = False
        for other in self.vendors:
            if other != vendor and other in layer:
                self.error(
                    (*path, other),
                    f"`{other}` options do not apply here: this project's provider is a "
                    f"{vendor} connection; remove them or move them to a {other} project",
                )
                found = True
        return found

    # -- charges ----------------------------------------------------------------------------

    def charges(self, project: ProjectSpec) -> Iterator[ChargeSpec]:
        """The project's charges that read well, in the order written."""
        raw_project = self._raw(project.path)
        for section, kind in KINDS_BY_SECTION.items():
            for key, raw in (raw_project.get(section) or {}).items():
                path: PathKey = (*project.path, section, key)
                if self.skip(path):
                    continue
                try:
                    spec = self._charge(project, kind, key, raw, path)
                except Invalid as problem:
                    self.error(problem.path, problem.message)
                    continue
                if spec is not None:
                    yield spec

    def _charge(
        self, project: ProjectSpec, kind: Kind, key: str, raw: dict[str, Any], path: PathKey
    ) -> ChargeSpec | None:
        source = self._merge_template(kind, raw, path)
        if source is None:
            return None
        if self._foreign_options(raw, path, project.vendor):
            return None
        settings = self._settings(project.settings, source.values, path, source.where)
        if settings is None:
            return None
        if settings.currency is None:
            raise Invalid(
                path,
                "no currency: set `currency` under defaults, on the project or on the charge",
            )
        text = source.get("description")
        options, option_marks = self._vendor_options(settings, project.vendor)
        charge = Charge(
            project=project,
            kind=kind,
            key=key,
            address=f"{project.key}/{SECTION[kind]}/{key}",
            path=path,
            settings=settings,
            currency=settings.currency,
            description=Description(
                None if text is None else str(text), source.where("description")
            ),
            options=options,
            option_marks=option_marks,
            mark=self.doc.key_mark(path),
        )
        reader = ChargeReader(charge, source, self.as_of)
        if kind == "recurring":
            return reader.recurring()
        if kind == "milestone":
            return reader.milestone()
        return reader.product()

    def _vendor_options(
        self, settings: Settings, vendor: str
    ) -> tuple[Mapping[str, Any], Mapping[str, Mark]]:
        """The vendor's options in force and where each was written: made once for all the
        charges that share their project's settings (read-only, as their items share them)."""
        last = self._options_for
        if last is not None and last[0] is settings and last[1] == vendor:
            return last[2], last[3]
        options = dict(settings.options.get(vendor, {}))
        marks = {
            option: self.doc.mark(where)
            for option, where in settings.option_paths.get(vendor, {}).items()
        }
        self._options_for = (settings, vendor, options, marks)
        return options, marks

    def _merge_template(self, kind: Kind, raw: dict[str, Any], path: PathKey) -> Source | None:
        name = raw.get("use")
        if name is None:
            return Source(values=raw, path=path, template_path=None, own=raw)
        if name not in self.templates:
            known = ", ".join(sorted(self.templates)) or "none"
            raise Invalid((*path, "use"), f"template {name!r} is not defined (defined: {known})")
        template_path: PathKey = ("templates", name)
        if self.skip(template_path):
            return None
        own = {k: v for k, v in raw.items() if k != "use"}
        merged = _deep_merge(self.templates[name], own)
        source = Source(values=merged, path=path, template_path=template_path, own=own)
        if self.revalidate is not None:
            problems = self.revalidate(kind, merged)
            for rel, message in problems:
                keys = [k for k in rel if isinstance(k, str)]
                where = source.where(*keys) if keys else path
                self.error(where, f"{message} (after applying template {name!r})")
            if problems:
                return None
        return source


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
