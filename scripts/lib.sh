# Shared set-up steps for scripts/demo.sh and scripts/test.sh. Each step checks before it acts (idempotent) and says
# what it does. Sourced, not run.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '[assay] %s\n' "$*"; }
die() { printf '[assay] ERROR: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_node() {
  command -v node >/dev/null || die "Node.js >= 20 is required (https://nodejs.org or Debian's nodejs from bookworm-backports)"
  local major; major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js >= 20 is required, found $(node -v)"
}

# npm ci when node_modules is missing or package-lock.json changed since the last install.
ensure_node_modules() {
  local stamp="$ROOT/node_modules/.assay-lock.sha256" want
  want=$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then say "node_modules up to date"; return; fi
  # npm install, not npm ci: npm 11 writes lockfiles that list only this platform's optional binaries (@swc/core,
  # msgpackr), which npm ci then refuses (npm/cli#4828); npm install honours the locked versions all the same.
  say "installing npm dependencies (npm install from package-lock.json)"
  (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

# PostgreSQL on 127.0.0.1:5432: started if installed, installed from Debian if not (with trust auth on loopback,
# which is what a one-machine demo needs; production uses DATABASE_URL with credentials).
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then say "PostgreSQL is up"; return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing PostgreSQL from Debian"
    apt_install postgresql
    local hba; hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -1)
    as_root sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "$hba"
  fi
  say "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 1; done
  die "PostgreSQL did not come up on 127.0.0.1:5432"
}

ensure_redis() {
  if redis_ping; then say "Redis is up"; return; fi
  command -v redis-server >/dev/null || { say "installing Redis from Debian"; apt_install redis-server; }
  say "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/assay.log
  for _ in $(seq 1 20); do redis_ping && return; sleep 0.5; done
  die "Redis did not come up on 127.0.0.1:6379"
}

redis_ping() {
  if command -v redis-cli >/dev/null; then redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; return; fi
  (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && read -r -t 2 line <&3 && [[ "$line" == +PONG* ]]) 2>/dev/null
}

ensure_docker_and_images() {
  as_root bash "$ROOT/scripts/setup-docker.sh"
  as_root bash "$ROOT/scripts/build-images.sh"
}

# Debian's Chromium: playwright-core drives it for the browser tests and renders report PDFs (no browser download).
ensure_chromium() {
  if command -v chromium >/dev/null; then say "Chromium is installed"; return; fi
  say "installing Chromium from Debian (browser tests, report PDFs)"
  apt_install chromium
}

# The reference implementations some unit tests cross-check against at run time (nibabel reads the NIfTI files Assay
# writes; scipy and pydicom beside it). Without them those tests skip with a warning; the test set-up installs them.
ensure_reference_tools() {
  if /usr/bin/python3 -c 'import nibabel, scipy, pydicom, sklearn' 2>/dev/null; then say "Python reference tools are installed"; return; fi
  say "installing Python reference tools from Debian (nibabel, scipy, pydicom, scikit-learn)"
  apt_install python3-nibabel python3-scipy python3-pydicom python3-sklearn
}

build_typescript() {
  say "compiling TypeScript (incremental)"
  (cd "$ROOT" && npx tsc -p tsconfig.build.json)
}
