#!/usr/bin/env bash
# Compiles the tools dbkeep ships as C (pipeline/native/) into dist/native/, where the worker
# runs them from (pipeline/native-tools.ts). Part of `npm run build`; needs a C compiler (cc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p dist/native
cc -O2 -Wall -Wextra -Werror -o dist/native/dbkeep-tee pipeline/native/dbkeep-tee.c pipeline/native/dump-scan.c
