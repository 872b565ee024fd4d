#!/usr/bin/env bash
# Generates the TypeScript for proto/ into gen with ts-proto, run through the protoc
# compiler that the @bufbuild/buf npm package ships. Never edit gen by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gen}"
rm -rf "$out"
if [ "$out" = gen ]; then
  npx --no-install buf generate
else
  npx --no-install buf generate -o "$out"
fi
