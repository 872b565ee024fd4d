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
# only the test files: node --test on a directory would also load every helper under test/
shopt -s globstar nullglob
tests=(dist/test/**/*.test.js)
node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}" || status=$?
echo "kernel tests run: $(wc -l < "$TCPSCOPE_KERNEL_TEST_LOG")"
exit $status
