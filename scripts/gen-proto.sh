#!/usr/bin/env bash
# Generates the TypeScript for proto/ into gen with ts-proto, run through the protoc
# compiler that the @bufbuild/buf npm package ships. Never edit gen by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gen}"
rm -rf "$out"
if [ "$out" = gen ]; then
  npx --no-install buf generate
  dir=gen
else
  npx --no-install buf generate -o "$out"
  dir="$out/gen"
fi

# ts-proto (forceLong=number) reads every 64-bit varint as a bigint and turns it into a
# number through a string (longToNumber: bigint -> toString -> Number), ~15% of the
# collector's ingest CPU. Converting the bigint directly gives the same numbers and the same
# errors above 2^53, without the string. Fails loudly if a ts-proto upgrade changes it.
from='const num = globalThis.Number(int64.toString());'
to='const num = typeof int64 === "bigint" ? globalThis.Number(int64) : globalThis.Number(int64.toString());'
for f in $(grep -rl 'function longToNumber' "$dir"); do
  grep -qF "$from" "$f" || { echo "gen-proto.sh: longToNumber in $f is not what this script rewrites; update it" >&2; exit 1; }
  FROM="$from" TO="$to" perl -pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/' "$f"
done
