#!/usr/bin/env bash
# Builds the agent and collector images with podman (--isolation chroot: no container
# engine needed) FROM the debootstrapped base of scripts/image-base.sh, or FROM $BASE_IMAGE.
# Skips a build when the image already carries the hash of its inputs (Dockerfile, build
# context, base image). Prints "<target> <image> <seconds> <built|cached>" per image.
# Usage: scripts/image-build.sh [agent] [collector]   (default: both)
# TCPSCOPE_IMAGE_GIT_REV=HEAD builds from that commit (git archive) instead of the working
# tree: a clean context while files are being edited.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "image-build: needs root (podman)" >&2; exit 1; }
cd "$(dirname "$0")/.."
base="${BASE_IMAGE:-$(bash scripts/image-base.sh)}"
if [ -n "${TCPSCOPE_IMAGE_GIT_REV:-}" ]; then
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  git archive "$TCPSCOPE_IMAGE_GIT_REV" | tar -x -C "$ctx"
  cd "$ctx"
fi
tag="${TCPSCOPE_IMAGE_TAG:-dev}"
prefix="${TCPSCOPE_IMAGE_PREFIX:-localhost/tcpscope}"
podman=(podman --cgroup-manager cgroupfs)

# inputs: the Dockerfile, .dockerignore, every file the context sends, the base image id
ctx_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && [ -z "${TCPSCOPE_IMAGE_GIT_REV:-}" ]; then
    git ls-files -co --exclude-standard -- package.json package-lock.json tsconfig.json bin gen common agent collector cli
  else
    find package.json package-lock.json tsconfig.json bin gen common agent collector cli -type f 2>/dev/null
  fi | grep -v '\.md$' | sort
}
base_id="$("${podman[@]}" image inspect --format '{{.Id}}' "$base")"
inputs="$( { cat Dockerfile .dockerignore; echo "$base_id"; ctx_files | while read -r f; do [ -f "$f" ] && { echo "== $f"; cat "$f"; }; done; } | sha256sum | cut -c1-16)"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(agent collector)
for t in "${targets[@]}"; do
  image="$prefix-$t:$tag"
  start=$(date +%s)
  if [ "$("${podman[@]}" image inspect --format '{{index .Labels "tcpscope.inputs"}}' "$image" 2>/dev/null || true)" = "$inputs" ]; then
    echo "$t $image 0 cached"
    continue
  fi
  log="${TCPSCOPE_IMAGE_CACHE:-/var/cache/tcpscope}/build-$t.log"
  mkdir -p "$(dirname "$log")"
  # --jobs 2: the build and prod-deps stages (npm ci, native addon compile) run side by side
  if ! "${podman[@]}" build --isolation chroot --layers --jobs 2 --target "$t" --build-arg "BASE_IMAGE=$base" \
      --label "tcpscope.inputs=$inputs" -t "$image" -f Dockerfile . >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "image-build: building $t failed; full log in $log" >&2
    exit 1
  fi
  echo "$t $image $(( $(date +%s) - start )) built"
done
