#!/usr/bin/env bash
# The steps of plans/ci/billplan.yml, run locally against billplan's built-in sandbox, on a
# temporary copy of plans/examples: validate; plan -o plan.json --format markdown (the PR
# comment); apply plan.json plans (the merge: the saved plan is checked against the plan
# directory, planned again, and applied only if it gives the same changes); a second plan
# shows no changes; and a saved plan made stale by a change at the "vendor" is refused.
#
# billplan is the command in $BILLPLAN if set (e.g. BILLPLAN="python -m compiler"), else the
# repository's .venv/bin/billplan, else `billplan` on PATH. Nothing in the repository changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [[ -n "${BILLPLAN:-}" ]]; then
  read -r -a command <<< "$BILLPLAN"
elif [[ -x "$repo/.venv/bin/billplan" ]]; then
  command=("$repo/.venv/bin/billplan")
elif command -v billplan > /dev/null; then
  command=(billplan)
else
  echo "smoke: no billplan found: set BILLPLAN, create $repo/.venv, or put billplan on PATH" >&2
  exit 1
fi
billplan() { "${command[@]}" "$@"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/billplan-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -R "$repo/plans/examples" "$work/plans"
rm -rf "$work/plans/.billplan"
cd "$work"
export BILLPLAN_SANDBOX=1                       # every command talks to the sandbox
export BILLPLAN_AS_OF="${BILLPLAN_AS_OF:-2026-11-23}"

step() { printf '\n== smoke: %s\n' "$*"; }
fail() { printf 'smoke: FAILED: %s\n' "$*" >&2; exit 1; }

step "validate"
billplan validate plans

step "plan -o plan.json --format markdown (the pull-request comment)"
billplan plan plans -o plan.json --format markdown > comment.md
grep -qF '<!-- billplan-plan -->' comment.md || fail "comment.md lacks the <!-- billplan-plan --> marker"
grep -q '^### billplan: Plan: ' comment.md || fail "comment.md does not start with the summary"
grep -qF '**Hosts contacted**' comment.md || fail "comment.md does not name the hosts contacted"
[[ -s plan.json ]] || fail "plan.json was not written"

step "apply plan.json plans --auto-approve (the merge: the reviewed plan, checked against main)"
billplan apply plan.json plans --auto-approve

step "a second plan shows no changes"
code=0
billplan plan plans --detailed-exitcode > second.txt || code=$?
[[ $code -eq 0 ]] || { cat second.txt; fail "the plan after apply exited $code, not 0"; }

step "a stale saved plan is refused"
address=harbor-point-erp/milestones/change-request-01
sed -i.orig -e 's/quantity: 42$/quantity: 44/' plans/fixed-fee.yaml
rm -f plans/fixed-fee.yaml.orig
billplan plan plans -o stale.json > /dev/null
billplan sandbox invoice "$address" plans              # changed at the vendor after review
code=0
billplan apply stale.json plans --auto-approve > stale.out 2> stale.err || code=$?
cat stale.err
[[ $code -eq 1 ]] || fail "apply of a stale plan exited $code, not 1"
grep -qF "$address" stale.err || fail "the refusal does not name $address"
grep -qF "is stale" stale.err || fail "the refusal does not say the plan is stale"

step "all steps passed"
