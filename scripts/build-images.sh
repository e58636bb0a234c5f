#!/usr/bin/env bash
# Builds the sandbox images without a container registry:
#   assay/base:bookworm           debootstrap (minbase) of Debian bookworm from the mirror apt already uses
#   assay/onnx-runner:<VERSION>   base + the host's node binary + runner + onnxruntime-node (this platform only)
#   assay/python-base:bookworm    debootstrap (minbase) + python3-minimal + python3-numpy (vendor-stack example base)
#   vendor-example/wdbc-python:1  sandbox-images/examples/wdbc-python (an honest vendor container; not under
#                                 assay/, a namespace the image intake reserves for the facility's own images)
#   assay/python-imaging-base:bookworm  the python base + python3-nibabel, python3-scipy (image-task example base)
#   vendor-example/lesion-python:1      sandbox-images/examples/lesion-python (the imaging twin of wdbc-python)
#   assay-attack/<name>:1         sandbox-images/attacks/<name>.sh, one image per attack (test/integration/attacks)
# Idempotent: each built image's ID and input hash (org.assay.version) are recorded in
# $ASSAY_IMAGE_RECORD_DIR (default ${ASSAY_DATA_DIR:-<repo>/.assay}/images/<tag>.json); an image is skipped only when
# its tag still points at the recorded ID and the recorded hash matches. Labels are informational only: any image can
# carry any label. The worker starts the ONNX runner by the recorded ID (src/containers/runner-image.ts).
# The debootstrap bases carry no setuid/setgid files and no /dev nodes (the image intake refuses both; Docker
# provides /dev at run time). Needs root (debootstrap) and a running dockerd (scripts/setup-docker.sh).
# Options: --force rebuilds all; --no-extras builds only the base and the runner (no python base, example or
# attack images); BASE_IMAGE=<ref> builds the runner on another base (e.g. debian:bookworm-slim).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=bookworm
BASE_TAG=assay/base:$SUITE
BASE_IMAGE=${BASE_IMAGE:-$BASE_TAG}
RUNNER_DIR=$ROOT/sandbox-images/onnx-runner
RUNNER_VERSION=$(tr -d ' \n' <"$RUNNER_DIR/VERSION")
RUNNER_TAG=assay/onnx-runner:$RUNNER_VERSION
# libstdc++6/libgcc-s1: node and libonnxruntime link against them (apt pulls them in too; named to be explicit).
BASE_INCLUDE=libstdc++6,libgcc-s1
PY_BASE_TAG=assay/python-base:$SUITE
# python3-numpy pulls python3 and libblas3/liblapack3; the example vendor image needs nothing else.
PY_BASE_INCLUDE=python3-minimal,python3-numpy
PY_IMG_BASE_TAG=assay/python-imaging-base:$SUITE
# nibabel reads and writes NIfTI; scipy (a dependency of Debian's python3-nibabel anyway) gives ndimage.
PY_IMG_BASE_INCLUDE=python3-minimal,python3-numpy,python3-nibabel,python3-scipy
FORCE=0
EXTRAS=1
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --no-extras) EXTRAS=0 ;;
    *) printf '[build-images] ERROR: unknown option %s\n' "$arg" >&2; exit 2 ;;
  esac
done

step() { printf '[build-images] %s\n' "$*"; }
fail() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
id_of() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
RECORD_DIR=${ASSAY_IMAGE_RECORD_DIR:-${ASSAY_DATA_DIR:-$ROOT/.assay}/images}
record_file() { printf '%s/%s.json' "$RECORD_DIR" "$(printf '%s' "$1" | tr '/:@' '___')"; }
# record_field <tag> <id|version>: a field of the tag's record ('' when there is none).
record_field() {
  local f; f=$(record_file "$1")
  [ -f "$f" ] || return 0
  sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$f"
}
# up_to_date <tag> <version>: the tag points at the image this script built and recorded, from the same inputs.
up_to_date() {
  local rec_id; rec_id=$(record_field "$1" id)
  [ "$FORCE" -eq 0 ] && [ -n "$rec_id" ] && [ "$(record_field "$1" version)" = "$2" ] && [ "$(id_of "$1")" = "$rec_id" ]
}
# write_record <tag> <version>: records the ID the tag points at right after this script built it.
write_record() {
  local id f; id=$(id_of "$1"); f=$(record_file "$1")
  [ -n "$id" ] || fail "$1 vanished right after its build"
  mkdir -p "$RECORD_DIR"
  printf '{"tag":"%s","id":"%s","version":"%s"}\n' "$1" "$id" "$2" >"$f.tmp" && mv "$f.tmp" "$f"
}

docker info >/dev/null 2>&1 || fail "docker is not answering; run scripts/setup-docker.sh first (as root)"

# The mirror apt already uses (deb822 sources first, then one-line sources.list); the only reachable one here.
apt_mirror() {
  local m
  m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | grep -E '/debian/?$' | head -n1 || true)
  [ -n "$m" ] || m=$(grep -hsE '^deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | grep -E '/debian/?$' | head -n1 || true)
  printf '%s' "${m:-http://deb.debian.org/debian}"
}

# ---- base image ----------------------------------------------------------------------------------------------
build_base() { debootstrap_image "$BASE_TAG" "$BASE_INCLUDE"; }

# debootstrap_image <tag> <comma-separated packages>: minbase + packages, docker-imported under <tag>.
debootstrap_image() {
  local BASE_TAG=$1 BASE_INCLUDE=$2
  local mirror version t0 dir
  mirror=$(apt_mirror)
  version=$(printf 'debootstrap minbase %s include=%s nosuid nodev' "$SUITE" "$BASE_INCLUDE" | sha256sum | cut -c1-16)
  if up_to_date "$BASE_TAG" "$version"; then
    step "$BASE_TAG up to date (recorded $(record_field "$BASE_TAG" id), org.assay.version=$version), skipped"
    return
  fi
  [ "$(id -u)" -eq 0 ] || fail "building $BASE_TAG needs root (debootstrap); re-run with sudo"
  command -v debootstrap >/dev/null || fail "debootstrap missing; run scripts/setup-docker.sh"
  step "building $BASE_TAG: debootstrap --variant=minbase $SUITE from $mirror"
  t0=$(now_ms)
  dir=$(mktemp -d /tmp/assay-base.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$dir'" EXIT
  debootstrap --variant=minbase --include="$BASE_INCLUDE" "$SUITE" "$dir" "$mirror" >/tmp/assay-debootstrap.log 2>&1 ||
    fail "debootstrap failed; see /tmp/assay-debootstrap.log"
  # Nothing in a sandbox installs packages: drop apt's caches and lists to keep the image small.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
  # No setuid/setgid programs (nothing in a sandbox may gain privileges; the intake refuses them in vendor layers
  # built on this base) and no device nodes (Docker mounts /dev at run time; the intake refuses those too).
  find "$dir" -xdev -type f -perm /6000 -exec chmod ug-s {} +
  tar -C "$dir" --numeric-owner --exclude='./dev/*' -c . | docker import \
    --change "LABEL org.assay.version=$version" \
    --change "LABEL org.assay.source=debootstrap-minbase-$SUITE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE_TAG" >/dev/null
  write_record "$BASE_TAG" "$version"
  rm -rf "$dir"
  trap - EXIT
  step "built $BASE_TAG in $(( ($(now_ms) - t0) / 1000 )) s ($(docker image inspect --format '{{.Size}}' "$BASE_TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# ---- onnx-runner image ---------------------------------------------------------------------------------------
NODE_BIN=$(readlink -f "$(command -v node)")
ORT_NODE=$ROOT/node_modules/onnxruntime-node
ORT_COMMON=$ROOT/node_modules/onnxruntime-common
case "$(uname -m)" in x86_64) ARCH=x64 ;; aarch64) ARCH=arm64 ;; *) fail "unsupported architecture $(uname -m)" ;; esac
ORT_BIN_REL=bin/napi-v6/linux/$ARCH

# Everything that goes into the image, as "source<TAB>destination in the context" lines.
runner_inputs() {
  printf '%s\t%s\n' "$NODE_BIN" node "$RUNNER_DIR/Dockerfile" Dockerfile
  (cd "$RUNNER_DIR/src" && find . -type f ! -name '*.spec.ts' | sort) | while read -r f; do printf '%s\t%s\n' "$RUNNER_DIR/src/$f" "runner/$f"; done
  for rel in package.json dist "$ORT_BIN_REL"; do
    (cd "$ORT_NODE" && find "$rel" -type f ! -name '*.map' | sort) | while read -r f; do
      printf '%s\t%s\n' "$ORT_NODE/$f" "runner/node_modules/onnxruntime-node/$f"
    done
  done
  for rel in package.json dist/cjs; do
    (cd "$ORT_COMMON" && find "$rel" -type f ! -name '*.map' | sort) | while read -r f; do
      printf '%s\t%s\n' "$ORT_COMMON/$f" "runner/node_modules/onnxruntime-common/$f"
    done
  done
}

build_runner() {
  local t0 version base_id ctx missing
  [ -f "$ORT_NODE/$ORT_BIN_REL/onnxruntime_binding.node" ] || fail "onnxruntime-node binaries missing under $ORT_NODE/$ORT_BIN_REL; run npm ci"
  [ -f "$ORT_COMMON/dist/cjs/index.js" ] || fail "onnxruntime-common missing; run npm ci"
  base_id=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null) || fail "base image $BASE_IMAGE not found"
  t0=$(now_ms)
  # Version = hash of every input's content and destination, plus the base image id.
  version=$( { runner_inputs | while IFS=$'\t' read -r src dst; do printf '%s  %s\n' "$(sha256sum <"$src" | cut -c1-64)" "$dst"; done; echo "base $base_id"; } | sha256sum | cut -c1-16)
  step "runner inputs hashed in $(( $(now_ms) - t0 )) ms: org.assay.version=$version"
  if up_to_date "$RUNNER_TAG" "$version"; then
    step "$RUNNER_TAG up to date (recorded $(record_field "$RUNNER_TAG" id)), skipped"
    return
  fi
  # The node binary must find its shared libraries in the base image.
  local libs
  libs=$( (ldd "$NODE_BIN"; ldd "$ORT_NODE/$ORT_BIN_REL/libonnxruntime.so.1") | awk '/=>/ {print $1}' | grep -v '^libonnxruntime' | sort -u | tr '\n' ' ')
  # One throw-away container answers for all libraries: ldconfig's cache lists what the dynamic loader will find.
  missing=$(docker run --rm --network none --user 65534:65534 "$BASE_IMAGE" /bin/sh -c \
    'c=$(ldconfig -p); for l in "$@"; do echo "$c" | grep -q "^[[:space:]]*$l " || echo "$l"; done' sh $libs </dev/null | tr '\n' ' ' | sed 's/ *$//')
  [ -z "$missing" ] || fail "base image $BASE_IMAGE lacks shared libraries the node binary needs: $missing"
  step "building $RUNNER_TAG on $BASE_IMAGE"
  ctx=$(mktemp -d /tmp/assay-runner-ctx.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" EXIT
  runner_inputs | while IFS=$'\t' read -r src dst; do
    mkdir -p "$ctx/$(dirname "$dst")"
    cp "$src" "$ctx/$dst"
  done
  chmod -R a+rX,go-w "$ctx"
  local builder_env=()
  # The legacy builder needs nothing beyond dockerd; BuildKit (buildx) is not installed with docker.io here.
  docker buildx version >/dev/null 2>&1 || builder_env=(DOCKER_BUILDKIT=0)
  env "${builder_env[@]}" docker build -q --network none \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --label "org.assay.version=$version" \
    --label "org.assay.runner-version=$RUNNER_VERSION" \
    -t "$RUNNER_TAG" "$ctx" >/tmp/assay-runner-build.log 2>&1 || fail "docker build failed; see /tmp/assay-runner-build.log"
  write_record "$RUNNER_TAG" "$version"
  rm -rf "$ctx"
  trap - EXIT
  step "built $RUNNER_TAG in $(( ($(now_ms) - t0) / 1000 )) s ($(docker image inspect --format '{{.Size}}' "$RUNNER_TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# ---- context images (example vendor image, attack images) ------------------------------------------------------
# context_image <tag> <context dir> <base ref> [build-arg ...]: docker build of a small context; the version is the
# hash of the context's files, the build args and the base image id, so an unchanged image costs one inspect.
context_image() {
  local tag=$1 ctx=$2 base=$3
  shift 3
  local base_id version t0 args=()
  base_id=$(docker image inspect --format '{{.Id}}' "$base" 2>/dev/null) || fail "base image $base not found"
  version=$( { (cd "$ctx" && find . -type f | LC_ALL=C sort | xargs sha256sum); echo "base $base_id"; printf 'arg %s\n' "$@"; } | sha256sum | cut -c1-16)
  if up_to_date "$tag" "$version"; then
    step "$tag up to date, skipped"
    return
  fi
  for a in "$@"; do args+=(--build-arg "$a"); done
  local old_id
  old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  t0=$(now_ms)
  local builder_env=()
  docker buildx version >/dev/null 2>&1 || builder_env=(DOCKER_BUILDKIT=0)
  env "${builder_env[@]}" docker build -q --network none --build-arg "BASE_IMAGE=$base" "${args[@]}" \
    --label "org.assay.version=$version" -t "$tag" "$ctx" >/tmp/assay-context-build.log 2>&1 ||
    fail "docker build of $tag failed; see /tmp/assay-context-build.log"
  write_record "$tag" "$version"
  # The previous build lost its tag: drop it unless something else still uses it (rmi refuses then).
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
  fi
  step "built $tag in $(( $(now_ms) - t0 )) ms"
}

build_extras() {
  debootstrap_image "$PY_BASE_TAG" "$PY_BASE_INCLUDE"
  context_image vendor-example/wdbc-python:1 "$ROOT/sandbox-images/examples/wdbc-python" "$PY_BASE_TAG"
  debootstrap_image "$PY_IMG_BASE_TAG" "$PY_IMG_BASE_INCLUDE"
  context_image vendor-example/lesion-python:1 "$ROOT/sandbox-images/examples/lesion-python" "$PY_IMG_BASE_TAG"
  local f name
  for f in "$ROOT"/sandbox-images/attacks/*.sh; do
    name=$(basename "$f" .sh)
    # root-user: the same attack kit with USER 0, for the intake's runs_as_root check.
    if [ "$name" = root-user ]; then
      context_image "assay-attack/$name:1" "$ROOT/sandbox-images/attacks" "$BASE_TAG" "ATTACK=$name" "RUN_AS=0:0"
    else
      context_image "assay-attack/$name:1" "$ROOT/sandbox-images/attacks" "$BASE_TAG" "ATTACK=$name"
    fi
  done
}

T0=$(now_ms)
[ "$BASE_IMAGE" = "$BASE_TAG" ] && build_base
build_runner
[ "$EXTRAS" -eq 1 ] && [ "$BASE_IMAGE" = "$BASE_TAG" ] && build_extras
step "done in $(( ($(now_ms) - T0) / 1000 )) s"
