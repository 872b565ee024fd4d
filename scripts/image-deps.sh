#!/usr/bin/env bash
# Installs the Debian packages the image and chart tests need (run as root), idempotently:
# podman + debootstrap (build the images from a debootstrapped base), Go + sprig + YAML +
# JSON-schema libraries (the chart renderer in test/chart/render, built in GOPATH mode).
# Prints nothing and exits 0 when everything is already there.
set -euo pipefail

pkgs=(
  podman crun fuse-overlayfs uidmap buildah   # podman build --isolation chroot
  debootstrap                                 # the bookworm base image
  golang-go                                   # the chart renderer
  golang-github-masterminds-sprig-dev         # helm's template functions
  golang-k8s-sigs-yaml-dev                    # helm's toYaml/fromYaml (sigs.k8s.io/yaml)
  golang-gopkg-yaml.v2-dev
  golang-github-xeipuuv-gojsonschema-dev      # helm's values.schema.json validation
  openssl
)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "image-deps: missing Debian packages ${need[*]}; run as root to install them" >&2
  exit 1
fi
echo "image-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# one apt run at a time: concurrent test files may call this together
exec 9>/var/lock/tcpscope-image-deps.lock
flock 9
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
