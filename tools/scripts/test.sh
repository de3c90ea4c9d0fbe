#!/usr/bin/env bash
# `npm test`: installs what it needs on a fresh clone, then runs every check CI runs:
# generated-code freshness, lint (module boundaries as errors), typecheck + build, and
# the unit and end-to-end suites (which start real controllers and agents from dist/).
set -euo pipefail
cd "$(dirname "$0")/../.."
export NX_NO_CLOUD=true NX_DAEMON=false NX_TUI=false

step() { printf '\n== %s\n' "$*"; }

if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "install (npm ci)"
  npm ci --no-audit --no-fund
fi

step "generated protobuf code is current"
bash tools/scripts/check-codegen.sh

step "project graph"
node node_modules/nx/dist/bin/nx.js show projects >/dev/null

step "lint"
npx eslint --max-warnings 0 .

step "typecheck + build"
npx tsc -b tsconfig.build.json
npx tsc -p tsconfig.spec.json

step "unit + end-to-end tests"
npx vitest run "$@"
