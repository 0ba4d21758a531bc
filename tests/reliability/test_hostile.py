"""Hostile input: plans come from pull requests, so a description template must not read
environment variables, files or Python internals, nor exhaust the memory of the machine that
runs billplan. Each attempt is a located error (file:line:column and the item's path), found by
`billplan validate` before anything talks to a vendor."""

from __future__ import annotations

import re
import resource
from pathlib import Path

import pytest
from support import billplan

PLAN = """\
version: 1
providers:
  ruddr: {{type: ruddr}}
defaults:
  currency: USD
  ruddr: {{invoice_item: aba04832-216c-463e-8998-c520948f707c}}
vars:
  owner: Dana
projects:
  p:
    provider: ruddr
    project_id: d077258e-2158-4f34-aabd-97e971d0c18d
    milestones:
      kickoff:
        date: 2026-01-15
        amount: 500
        description: {template}
"""

SECRET_ENV = "BILLPLAN_HOSTILE_SECRET"
SECRET = "hostile-secret-4411"

# What a template may try, and a word the refusal must contain.
ATTEMPTS = {
    "a Python class": ("{{ ''.__class__ }}", "unsafe"),
    "the class hierarchy": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    "a dunder through attr": ("{{ vars|attr('__class__') }}", "unsafe"),
    "a private name": ("{{ self._TemplateReference__context }}", "unsafe"),
    "globals of self": ("{{ self.__init__.__globals__ }}", "unsafe"),
    "a format-string escape": ("{{ '{0.__class__}'.format(vars) }}", "unsafe"),
    "a format_map escape": ("{{ '{owner.__class__}'.format_map(vars) }}", "unsafe"),
    "a format_map of a missing key": ("{{ '{nope}'.format_map(vars) }}", "no 'nope'"),
    "a format of a missing argument": ("{{ '{3}'.format(1) }}", "template error"),
    "cycler": ("{{ cycler.__init__.__globals__.os }}", "unsafe|not defined"),
    "joiner": ("{{ joiner }}", "not defined"),
    "lipsum": ("{{ lipsum.__globals__['os'].environ }}", "unsafe|not defined"),
    "namespace": ("{{ namespace }}", "not defined"),
    "range": ("{{ range(10**9) }}", "not defined"),
    "config (Flask's)": ("{{ config.items() }}", "not defined"),
    "request (Flask's)": ("{{ request.environ }}", "not defined"),
    "os.environ": ("{{ environ['" + SECRET_ENV + "'] }}", "not defined"),
    "an import": ("{% import 'os' as os %}{{ os }}", "template"),
    "an include of a file": ("{% include '/etc/passwd' %}", "template"),
    "an extends of a file": ("{% extends '/etc/hostname' %}", "template"),
    "a mutation": ("{{ vars.update(owner='x') }}", "unsafe"),
    "a huge repetition": ("{{ 'a' * 10000 * 10000 }}", "repeating"),
    "a huge list": ("{{ [1] * 9999 * 9999 }}", "repeating"),
    "a huge power": ("{{ 10 ** 99999 }}", "exponent"),
    "a huge padding filter": ("{{ 'x'|center(999999999) }}", "large"),
    "a huge padding method": ("{{ 'x'.zfill(999999999) }}", "large"),
    "a huge %-format width": ("{{ '%0999999999d' % 1 }}", "large"),
    "a %-format width from an argument": ("{{ '%*d' % (999999999, 1) }}", "large"),
    "a huge str.format width": ("{{ '{:>999999999}'.format(1) }}", "large"),
    "a str.format width from an argument": ("{{ '{0:{1}}'.format(1, 999999999) }}", "large"),
}


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=list(ATTEMPTS))
def test_a_hostile_template_is_a_located_error(
    attempt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    template, word = ATTEMPTS[attempt]
    quoted = '"' + template.replace("\\", "\\\\").replace('"', '\\"') + '"'
    (tmp_path / "plan.yaml").write_text(PLAN.format(template=quoted), encoding="utf-8")
    # A template that slipped through would try to allocate gigabytes: fail fast instead.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (4_000_000_000, hard))
        run = billplan("validate", tmp_path)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    assert run.code == 1, run.text
    assert re.search(r"plan\.yaml:17:\d+: \$\.projects\.p\.milestones\.kickoff\.description:",
                     run.errors), run.errors  # fmt: skip
    assert re.search(word, run.errors), run.errors
    assert SECRET not in run.text
    assert "Traceback" not in run.text


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{ '{:,.2f}'.format(amount) }}", "500.00"),
        ("{{ '%05d' % 42 }} {{ '-' * 3 }}", "00042 ---"),
        ("{{ vars.owner|upper }} {{ 'x'.rjust(3) }}", "DANA   x"),
        ("PO 123456: {{ '{}'.format(vars.owner) }}", "PO 123456: Dana"),
    ],
)
def test_ordinary_templates_still_render(template: str, rendered: str, tmp_path: Path) -> None:
    quoted = '"' + template.replace('"', '\\"') + '"'
    (tmp_path / "plan.yaml").write_text(PLAN.format(template=quoted), encoding="utf-8")
    run = billplan("render", tmp_path, "--as-of", "2026-11-23", "--format", "json")
    assert run.code == 0, run.text
    assert rendered in run.out
