#!/usr/bin/env bash
# The README's test command: bootstrap, type-check (the tests too), lint and format check, and
# build (the CLI tests run the built CLI), then every test file against real servers this suite
# starts itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
npm run --silent build
npx --no-install tsc -p tsconfig.test.json
npx --no-install eslint .
npx --no-install prettier --check --log-level warn .
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true}"
exec npx --no-install vitest run "$@"
