#!/usr/bin/env bash
# Installs everything tcpscope needs on a fresh Debian machine (run as root): Debian packages
# (bpftrace, nftables, iproute2, ...), the npm packages from the lock file, the build; and
# mounts tracefs when it is missing. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
want() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$1"); }
for p in bpftrace nftables iproute2 util-linux procps ca-certificates tcpdump ethtool; do want "$p"; done
# kubectl (for `kubectl tcpscope`): Debian's kubernetes-client, unless a kubectl is already there.
command -v kubectl >/dev/null 2>&1 || want kubernetes-client
for p in ${TCPSCOPE_EXTRA_PKGS:-}; do want "$p"; done

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages ${need_pkgs[*]}; run as root to install them" >&2
  else
    echo "setup: installing Debian packages: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
  fi
fi

# bpftrace needs tracefs for tracepoints; a fresh machine may not have it mounted.
if [ "$(id -u)" = 0 ] && [ ! -e /sys/kernel/tracing/events ] && [ ! -e /sys/kernel/debug/tracing/events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null && echo "setup: mounted tracefs at /sys/kernel/tracing" || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
