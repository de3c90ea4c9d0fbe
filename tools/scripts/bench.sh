#!/usr/bin/env bash
# `npm run bench`: builds, then runs the benchmarks (tools/src/bench). Prints a table per
# section and writes bench-results/bench-<timestamp>.json and bench-results/latest.json.
# Arguments pass through, e.g. `npm run bench -- --quick` or `npm run bench -- --only ingest`.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d node_modules/.bin ] || npm ci --no-audit --no-fund
npx tsc -b tsconfig.build.json
exec node tools/dist/bench/run-bench.js "$@"
