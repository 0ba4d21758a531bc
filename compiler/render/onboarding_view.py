"""`billplan generate` on stdout: per project what was read (counts and totals by kind), how
many objects became recurring charges, what stayed single, what is locked and what was left
out; then the files and state entries written, or with --dry-run, the files' text instead.
compiler.operations.onboarding reads, generates, proves and writes; this module shows it.
"""

from __future__ import annotations

from compiler.money import format_amount
from compiler.operations.onboarding import Onboarded, ProjectReport
from compiler.render.safe import visible
from compiler.render.terminal import count

_KINDS = (("recurring", "recurring item"), ("milestone", "milestone"), ("product", "product"))


def print_onboarded(outcome: Onboarded) -> None:
    for project in outcome.projects:
        _print_project(project)
    for empty in outcome.empty:
        print(visible(empty))
    for skipped in outcome.skipped:
        print(f"Passed over {visible(skipped)} (--overwrite generates it again)")
    if not outcome.projects:
        print("Nothing new to onboard: every project is already in the plan; nothing was written.")
        return
    if outcome.dry_run:
        for path, text in outcome.files.items():
            print(f"--- {visible(path)} (would write)")
            if path.suffix == ".json":
                print("(the plan's JSON Schema, for the editor's modeline)")
                continue
            for line in text.rstrip("\n").split("\n"):
                print(visible(line))
        if outcome.replaced:
            print(f"Would replace (--overwrite): {', '.join(map(visible, outcome.replaced))}")
        print(
            f"Dry run: would write {count(len(outcome.files), 'file')} and "
            f"{_entries(len(outcome.entries))} to "
            f"{visible(outcome.state)}; nothing was written."
        )
        return
    for path in outcome.files:
        print(f"Wrote {visible(path)}")
    replaced = ""
    if outcome.replaced:
        replaced = f" (replaced: {', '.join(map(visible, outcome.replaced))})"
    print(
        f"Recorded {_entries(len(outcome.entries))} in "
        f"{visible(outcome.state)}{replaced}. `billplan plan` on the directory shows no changes."
    )


def _print_project(project: ProjectReport) -> None:
    found = project.found
    # Wethod keeps no project name: the project is then said by its id alone.
    name = f"{visible(found.name)} " if found.name else ""
    print(
        f"{visible(project.key)}: {name}(project {visible(found.project_id)}, "
        f"{visible(found.currency)}) -> {visible(project.file.name)}"
    )
    totals = project.totals()
    for kind, noun in _KINDS:
        if kind in totals:
            number, total = totals[kind]
            amount = format_amount(total, found.currency)
            print(f"  {count(number, noun)}: {amount} {visible(found.currency)}")
    charges, covered = project.recurring()
    if charges:
        print(f"  {count(covered, 'item')} became {count(charges, 'recurring charge')}")
    else:
        print("  no recurring charges")
    splits = [c for c in project.charges if "split" in c.body]
    if splits:
        parts = sum(len(c.covers) for c in splits)
        print(f"  {count(parts, 'milestone')} became {count(len(splits), 'split')}")
    single = project.single()
    print(f"  {count(len(single), 'single item')}" + (f": {_listed(single)}" if single else ""))
    locked = project.locked()
    print(f"  {count(len(locked), 'locked item')}" + (f": {_listed(locked)}" if locked else ""))
    if project.left_out:
        print(f"  {count(len(project.left_out), 'object')} left out, unmanaged:")
        for left in project.left_out:
            print(f"    {visible(left.observed.remote_id)}: {visible(left.reason)}")


def _entries(n: int) -> str:
    return f"{n} state {'entry' if n == 1 else 'entries'}"


def _listed(addresses: list[str]) -> str:
    return ", ".join(visible(a) for a in addresses)
