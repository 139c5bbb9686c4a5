#!/usr/bin/env bash
# Builds the dashboard (web/) into web/dist/, which the service serves as wwwroot/. Installs Node.js and npm from the
# distribution's packages when missing (Node 18 on Debian 12 is enough), runs `npm ci` only when the lock file changed
# and the build only when a source changed, so a second run costs a fraction of a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/web"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "web: installing Node.js and npm from the distribution's packages" >&2
    sudo_prefix=()
    [[ $(id -u) -ne 0 ]] && sudo_prefix=(sudo)
    "${sudo_prefix[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_prefix[@]}" apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

cd "$WEB"
# npm ci writes node_modules/.package-lock.json; when it is newer than the lock file, the install is current.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

stamp=dist/index.html
if [[ -f $stamp && -z $(find src build.mjs tsconfig.json package-lock.json -newer "$stamp" -print -quit) ]]; then
    exit 0
fi
npm run --silent build
