#!/usr/bin/env bash
# The README's demo: bootstrap, build, then the Sakila round trip on the embedded stack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
npm run --silent build
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true}"
exec node dist/demo/run-demo.js "$@"
