#!/usr/bin/env bash
# Shared by scripts/pg.sh and scripts/redis.sh (sourced, not run): the saved port of a private instance, picking a free
# loopback port no other instance has reserved, and the locks that keep concurrent starts apart.
# Expects from the caller: die, DATA_ROOT, INST_DIR, INSTANCE, PORT_FILE, PORT_FIRST, PORT_LAST.

saved_port() {
  local p
  [[ -f $PORT_FILE ]] || return 1
  p="$(cat "$PORT_FILE")"
  [[ $p =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$p"
}

# True when 127.0.0.1:$1 can be bound the way a server would (SO_REUSEADDR).
port_free() {
  local py
  py="$(command -v /usr/bin/python3 python3 2>/dev/null | head -n 1 || true)"
  if [[ -n $py ]]; then
    "$py" - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
  else
    if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
      return 1
    fi
  fi
}

# Ports saved by other private instances (pg or redis) under the same data root, even when stopped.
reserved_ports() {
  local f
  for f in "$DATA_ROOT"/*/port; do
    [[ -f $f && $f != "$PORT_FILE" ]] && cat "$f"
  done
  return 0
}

pick_port() {
  local p reserved
  reserved=" $(reserved_ports | tr '\n' ' ') "
  for ((p = PORT_FIRST; p <= PORT_LAST; p++)); do
    [[ $reserved == *" $p "* ]] && continue
    if port_free "$p"; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  die "no free port in $PORT_FIRST-$PORT_LAST"
}

lock_instance() {
  mkdir -p "$DATA_ROOT"
  exec 9>"$INST_DIR.lock"
  flock -w 300 9 || die "timed out waiting for another ${0##*/} on instance '$INSTANCE'"
}

# One lock for pg.sh and redis.sh, so concurrent starts never pick the same port.
lock_ports() {
  exec 8>"/tmp/taskrunner-port-alloc.$(id -u).lock"
  flock -w 300 8 || die "timed out waiting for the port lock"
}
unlock_ports() { exec 8>&-; }
