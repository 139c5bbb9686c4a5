#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/ against the Kubernetes API schemas, offline (no cluster, no schema
# download): deploy/validation/validate-manifests.mjs with kubernetes-models, pinned in deploy/validation/package-lock.json.
# `make test` runs it through deploy/KubernetesManifestsTests.cs.
#
# Usage: deploy/validate-manifests.sh [--json] [file.yaml ...]     (default: every deploy/*.yaml)
# Installs Node.js and npm from Debian's packages when missing (as root), and the pinned packages on first use or when
# the lock file changed.
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
VALIDATION="$DEPLOY/validation"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    printf 'validate-manifests: installing Node.js and npm (Debian packages)\n' >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2
fi

# npm ci replaces node_modules: one install at a time, and only when the lock file differs from the installed one.
exec 9>"$VALIDATION/.install.lock"
flock 9
if ! cmp -s "$VALIDATION/package-lock.json" "$VALIDATION/node_modules/.installed-package-lock.json" 2>/dev/null; then
    (cd "$VALIDATION" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$VALIDATION/package-lock.json" "$VALIDATION/node_modules/.installed-package-lock.json"
fi
flock -u 9

json=()
if [[ ${1:-} == --json ]]; then
    json=(--json)
    shift
fi
(($# > 0)) || set -- "$DEPLOY"/*.yaml
exec node "$VALIDATION/validate-manifests.mjs" "${json[@]}" "$@"
