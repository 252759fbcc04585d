#!/usr/bin/env bash
# The API tests (control_tests' Api*, OpenApi* and Metrics* suites: the `control` test leaves
# them to this one) with their responses logged (PRIVLINK_API_RESPONSE_LOG,
# tests/control/framework/response_log.h), then each response held to the OpenAPI document by
# openapi_contract.mjs. A failed API test fails this test.
#
# usage: tests/web/openapi_contract.sh CONTROL_TESTS OPENAPI_JSON  (the document as served)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -d "$here/node_modules/ajv" ]; then
  echo "FAIL: the pinned npm tools are missing (tools/install-deps web)" >&2
  exit 1
fi
log=$(mktemp /tmp/privlink-api-responses.XXXXXX)
trap 'rm -f "$log"' EXIT
PRIVLINK_API_RESPONSE_LOG=$log "$1" --gtest_filter='Api*:OpenApi*:Metrics*' --gtest_brief=1
node "$here/openapi_contract.mjs" "$2" "$log"
