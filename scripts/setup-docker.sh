#!/usr/bin/env bash
# Sets up the local Docker engine for Assay sandboxes: docker.io + gVisor (runsc) + debootstrap, a daemon.json with
# no bridge network and a runsc runtime, and a running dockerd. Idempotent: every step checks before it acts, so a
# second run takes about a second. There is no systemd on the target machines, so dockerd is started by hand.
set -euo pipefail

DAEMON_JSON=/etc/docker/daemon.json
DOCKERD_LOG=/var/log/assay-dockerd.log
WAIT_SECONDS=${ASSAY_DOCKERD_WAIT_SECONDS:-60}
# --network=none: runsc refuses to start containers here without it; bridge none / no iptables: sandboxes never
# get a network, so Docker must not create the 172.17.0.0/16 bridge or touch the host firewall.
WANTED_CONFIG='{
  "runtimes": {
    "runsc": { "path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"] }
  },
  "bridge": "none",
  "iptables": false
}'

step() { printf '[setup-docker] %s\n' "$*"; }
fail() { printf '[setup-docker] ERROR: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  fail "must run as root: it installs packages (apt-get), writes $DAEMON_JSON and starts dockerd. Re-run with sudo."
fi

# 1. Packages. /usr/local/bin/docker may be a bare client, so look for the daemon itself.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
[ -x /usr/bin/runsc ] || missing+=(runsc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  step "installing missing packages: $pkgs(apt-get update + install)"
  export DEBIAN_FRONTEND=noninteractive
  # Other tools may hold the dpkg lock (parallel set-up scripts); wait for it rather than fail.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq $pkgs >/dev/null
else
  step "packages present: dockerd, docker, runsc, debootstrap"
fi

# 2. daemon.json, compared structurally so formatting differences do not force a restart.
mkdir -p /etc/docker
config_changed=0
same_config() {
  [ -f "$DAEMON_JSON" ] || return 1
  python3 - "$DAEMON_JSON" "$WANTED_CONFIG" <<'PY' 2>/dev/null
import json, sys
with open(sys.argv[1]) as f:
    current = json.load(f)
sys.exit(0 if current == json.loads(sys.argv[2]) else 1)
PY
}
if command -v python3 >/dev/null 2>&1 && same_config; then
  step "$DAEMON_JSON already as wanted"
elif ! command -v python3 >/dev/null 2>&1 && [ -f "$DAEMON_JSON" ] && [ "$(cat "$DAEMON_JSON")" = "$WANTED_CONFIG" ]; then
  step "$DAEMON_JSON already as wanted"
else
  [ -f "$DAEMON_JSON" ] && cp "$DAEMON_JSON" "$DAEMON_JSON.assay-backup.$(date +%s)"
  printf '%s\n' "$WANTED_CONFIG" >"$DAEMON_JSON"
  config_changed=1
  step "wrote $DAEMON_JSON (runsc runtime with --network=none, no bridge, no iptables)"
fi

# 3. dockerd. A running daemon only reads daemon.json at start, so restart it when the config changed.
dockerd_pid() { pgrep -x dockerd | head -n1 || true; }
# A daemon started before daemon.json was last edited shows it: no runsc runtime, or a default bridge network.
stale_daemon() {
  docker info >/dev/null 2>&1 || return 1
  ! docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && return 0
  docker network ls --format '{{.Name}}' | grep -qx bridge
}
if [ -n "$(dockerd_pid)" ] && { [ "$config_changed" -eq 1 ] || stale_daemon; }; then
  pid=$(dockerd_pid)
  step "running dockerd (pid $pid) does not have the wanted config: stopping it to restart it"
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && fail "dockerd (pid $pid) did not stop within 30 s"
fi

if docker info >/dev/null 2>&1; then
  step "dockerd already answering"
else
  if [ -z "$(dockerd_pid)" ]; then
    step "starting dockerd in the background (log: $DOCKERD_LOG)"
    # setsid + nohup: the daemon must outlive this shell and any terminal it came from.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  else
    step "dockerd (pid $(dockerd_pid)) is starting; waiting for it"
  fi
  start=$(date +%s)
  until docker info >/dev/null 2>&1; do
    if [ $(( $(date +%s) - start )) -ge "$WAIT_SECONDS" ]; then
      fail "dockerd did not answer 'docker info' within ${WAIT_SECONDS} s; see the end of $DOCKERD_LOG"
    fi
    sleep 0.5
  done
  step "dockerd answering after $(( $(date +%s) - start )) s"
fi

# 4. Sanity: the runsc runtime must be registered, or sandboxes would silently fall back to runc elsewhere.
if docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then
  step "runtimes: $(docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
else
  fail "dockerd is up but has no 'runsc' runtime; check $DAEMON_JSON and $DOCKERD_LOG"
fi
step "done"
