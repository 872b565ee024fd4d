#!/usr/bin/env bash
# Makes the base image the Dockerfile builds FROM in tests: Debian bookworm (minbase) made
# with debootstrap from this machine's apt mirror, with this machine's apt sources and
# Acquire:: settings (proxy, date checks) and its extra CA certificates copied in, so apt
# and HTTPS (npm registry) work inside `podman build` the way they work on this host.
# Imported as localhost/tcpscope-base:bookworm. Cached: the root filesystem tarball lives
# under $TCPSCOPE_IMAGE_CACHE (/var/cache/tcpscope) and nothing is redone when the inputs
# (this script, the apt settings, the CA files) are unchanged. Prints the image name.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "image-base: needs root (debootstrap, podman)" >&2; exit 1; }
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/image-deps.sh"

cache="${TCPSCOPE_IMAGE_CACHE:-/var/cache/tcpscope}"
image="${TCPSCOPE_BASE_IMAGE_NAME:-localhost/tcpscope-base:bookworm}"
mkdir -p "$cache"
exec 8>"$cache/base.lock"
flock 8

# the apt sources in use here (enabled ones only), Acquire:: settings, extra CAs
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -s "$f" ] && sources+=("$f")
done
confs=()
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && grep -q -i 'Acquire::' "$f" && confs+=("$f")
done
cas=()
for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] && cas+=("$f"); done

inputs="$( { cat "$0"; for f in "${sources[@]}" "${confs[@]}" "${cas[@]}"; do echo "== $f"; cat "$f"; done; } | sha256sum | cut -c1-16)"
tarball="$cache/base-bookworm-$inputs.tar"

if [ ! -s "$tarball" ]; then
  # the mirror debootstrap uses: the first Debian (non-security) URI of this host's sources
  mirror="$(grep -h -o -E 'https?://[^ ]+/debian/?( |$)' "${sources[@]}" 2>/dev/null | grep -v security | head -1 | tr -d ' ')"
  mirror="${mirror:-http://deb.debian.org/debian}"
  root="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'umount -R "$root/proc" 2>/dev/null || true; rm -rf "$root"' EXIT
  echo "image-base: debootstrap bookworm from $mirror" >&2
  debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  rm -f "$root"/etc/apt/sources.list
  for f in "${sources[@]}"; do mkdir -p "$root$(dirname "$f")"; cp "$f" "$root$f"; done
  for f in "${confs[@]}"; do cp "$f" "$root/etc/apt/apt.conf.d/$(basename "$f")"; done
  for f in "${cas[@]}"; do cp "$f" "$root/usr/local/share/ca-certificates/"; done
  chroot "$root" update-ca-certificates >/dev/null 2>&1
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  # older tarballs are stale
  find "$cache" -maxdepth 1 -name 'base-bookworm-*.tar' ! -name "$(basename "$tarball")" -delete
fi

# (re)import when the image is missing or came from another tarball
if [ "$(podman image inspect --format '{{index .Labels "tcpscope.base.inputs"}}' "$image" 2>/dev/null || true)" != "$inputs" ]; then
  podman import --change "LABEL tcpscope.base.inputs=$inputs" --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
fi
echo "$image"
