#!/usr/bin/env bash
# Redocly's linter (pinned in package-lock.json) over the OpenAPI document with the rules of
# docs/redocly.yaml (recommended-strict: every recommended rule is an error, so nothing passes
# with a warning).
#
# usage: tests/web/openapi_lint.sh OPENAPI_YAML REDOCLY_CONFIG
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -x "$here/node_modules/.bin/redocly" ]; then
  echo "FAIL: the pinned npm tools are missing (tools/install-deps web)" >&2
  exit 1
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
"$here/node_modules/.bin/redocly" lint --format=stylish --max-problems=50 --config "$2" "$1"
