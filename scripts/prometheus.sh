#!/usr/bin/env bash
# Prometheus and promtool from Debian's `prometheus` package, for the tests that check /metrics, the alert and recording
# rules and the Grafana dashboard's queries (and for operators who want the same checks by hand).
#
# Usage: scripts/prometheus.sh <command>
#   install        install Debian's prometheus package when promtool or prometheus is missing (root), print both paths
#   check-rules    promtool check rules + promtool test rules on deploy/prometheus-*.yaml
set -euo pipefail
shopt -s inherit_errexit

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

die() {
  printf 'prometheus.sh: %s\n' "$*" >&2
  exit 1
}
note() { printf 'prometheus.sh: %s\n' "$*" >&2; }

found() { command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; }

install_prometheus() {
  found && return 0
  ((EUID == 0)) || die "promtool/prometheus not found on PATH; install them (e.g. sudo apt-get install prometheus) or run this once as root"
  note "prometheus not found; installing it with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq -o DPkg::Lock::Timeout=300 update >&2
  apt-get -qq -y -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0 install --no-install-recommends prometheus >&2
  found || die "installed prometheus but promtool/prometheus are still not on PATH"
}

case "${1:-}" in
  install)
    install_prometheus
    command -v promtool
    command -v prometheus
    ;;
  check-rules)
    install_prometheus
    cd "$REPO_DIR/deploy"
    promtool check rules prometheus-rules.yaml prometheus-recording-rules.yaml
    promtool test rules prometheus-rules.test.yaml
    ;;
  *)
    awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
    exit 2
    ;;
esac
