#!/usr/bin/env bash
# Installs what the web UI's browser test needs: Debian's chromium (never a downloaded
# browser; playwright-core drives /usr/bin/chromium). Safe to run again: does nothing when
# chromium is there. Needs root to install; otherwise says what is missing and exits 1.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ui-deps: /usr/bin/chromium is missing; run as root (or: apt-get install chromium)" >&2
  exit 1
fi
echo "ui-deps: installing Debian package chromium"
export DEBIAN_FRONTEND=noninteractive
# the package lists may be stale or absent on a fresh machine
apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends chromium >/dev/null
}
test -x /usr/bin/chromium
/usr/bin/chromium --version
