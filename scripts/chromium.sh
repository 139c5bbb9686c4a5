#!/usr/bin/env bash
# The browser of the dashboard's end-to-end tests: Chromium from the distribution's packages, installed when missing
# (Playwright never downloads one). Prints the binary's path for TASKRUNNER_TEST_CHROMIUM.
set -euo pipefail

binary=/usr/lib/chromium/chromium
if [[ ! -x $binary ]]; then
    echo "chromium: installing Chromium from the distribution's packages" >&2
    sudo_prefix=()
    [[ $(id -u) -ne 0 ]] && sudo_prefix=(sudo)
    "${sudo_prefix[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo_prefix[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
echo "$binary"
