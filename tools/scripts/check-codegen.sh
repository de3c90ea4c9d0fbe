#!/usr/bin/env bash
# Fails when the committed generated protobuf code is stale: lints the protos,
# regenerates libs/proto/src/gen and libs/proto/src/test-gen in place (buf with the
# local protoc-gen-es from node_modules, `clean: true`), then asks git whether
# anything under those directories differs from what is committed. New, changed
# or deleted generated files all count.
set -euo pipefail
cd "$(dirname "$0")/../.."

gen_dirs=(libs/proto/src/gen libs/proto/src/test-gen)

if ! npm run --silent lint:proto --workspace @haven/proto; then
  echo "check-codegen: buf lint failed for libs/proto (see above)." >&2
  exit 1
fi

if ! npm run --silent codegen --workspace @haven/proto; then
  echo "check-codegen: 'npm run codegen' failed for libs/proto (see above)." >&2
  exit 1
fi

changes="$(git status --porcelain --untracked-files=all -- "${gen_dirs[@]}")"
if [ -n "$changes" ]; then
  {
    echo "check-codegen: generated code in libs/proto is stale or uncommitted."
    echo "Run 'npm run codegen' and commit the result. Differences:"
    echo "$changes"
  } >&2
  exit 1
fi
echo "check-codegen: generated code in libs/proto is up to date."
