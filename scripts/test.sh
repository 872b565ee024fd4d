#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/setup.sh), builds, then runs unit,
# integration (real bpftrace + network namespaces, as root) and end-to-end tests with
# node's test runner. Kernel tests skip with a reason where root or bpftrace is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TCPSCOPE_KERNEL_TEST_LOG="${TCPSCOPE_KERNEL_TEST_LOG:-$(mktemp)}"
: > "$TCPSCOPE_KERNEL_TEST_LOG"
status=0
node --test --test-concurrency=1 --test-reporter=spec dist/test/ || status=$?
echo "kernel tests run: $(wc -l < "$TCPSCOPE_KERNEL_TEST_LOG")"
exit $status
