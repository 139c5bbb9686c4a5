#!/usr/bin/env bash
# Lints an OpenAPI document with Redocly CLI (pinned in tools/openapi-lint, rules in tools/openapi-lint/redocly.yaml), for the
# test that checks the service's /openapi/v1.json and for anyone checking a document by hand.
#
# Usage: scripts/openapi-lint.sh <document.json>
#   installs Redocly CLI from tools/openapi-lint's lockfile when missing (npm ci; Node.js 18.17 or later), then lints the
#   document; exit 0 when it has no errors (warnings are printed, not fatal)
set -euo pipefail
shopt -s inherit_errexit

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TOOL_DIR="$REPO_DIR/tools/openapi-lint"
CLI="$TOOL_DIR/node_modules/@redocly/cli/bin/cli.js"

die() {
  printf 'openapi-lint.sh: %s\n' "$*" >&2
  exit 1
}

[[ $# -eq 1 && ${1:-} != -* ]] || {
  awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}
DOCUMENT="$(realpath "$1")"
[[ -f $DOCUMENT ]] || die "no such file: $1"

if [[ ! -f $CLI ]]; then
  command -v npm >/dev/null || die "npm not found: install Node.js (Debian: apt-get install nodejs npm)"
  printf 'openapi-lint.sh: installing Redocly CLI from tools/openapi-lint/package-lock.json\n' >&2
  (cd "$TOOL_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# No telemetry and no update check: the linter runs offline, in CI as on a laptop.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1
cd "$TOOL_DIR"
exec node "$CLI" lint --config redocly.yaml --format stylish "$DOCUMENT"
