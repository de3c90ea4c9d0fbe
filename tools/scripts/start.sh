#!/usr/bin/env bash
# `npm start`: builds if needed, then serves a controller on embedded defaults with its
# data under .haven-demo/ (created on first run). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d node_modules/.bin ] || npm ci --no-audit --no-fund
npx tsc -b tsconfig.build.json
exec node tools/dist/demo/demo.js "$@"
