#!/usr/bin/env bash
# Compiles the tools dbkeep ships as C (pipeline/native/) into dist/native/, where the worker
# runs them from (pipeline/native-tools.ts). Part of `npm run build`; needs a C compiler (cc).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p dist/native
native=pipeline/native
cc -O2 -Wall -Wextra -Werror -o dist/native/dbkeep-tee "$native/dbkeep-tee.c" "$native/dump-scan.c" "$native/batched-input.c"
cc -O2 -Wall -Wextra -Werror -o dist/native/dbkeep-relay "$native/dbkeep-relay.c" "$native/batched-input.c"
# SHA-256 from OpenSSL's libcrypto (libssl-dev to build, libssl3 to run): it uses the CPU's SHA extensions.
cc -O2 -Wall -Wextra -Werror -o dist/native/dbkeep-sink "$native/dbkeep-sink.c" "$native/batched-input.c" "$native/write-all.c" -lcrypto
cc -O2 -Wall -Wextra -Werror -o dist/native/dbkeep-stage "$native/dbkeep-stage.c" "$native/batched-input.c" "$native/write-all.c"
cc -O2 -Wall -Wextra -Werror -o dist/native/dbkeep-copy "$native/dbkeep-copy.c"
# TLS from OpenSSL's libssl (the same packages): a restore's GET from S3 (pipeline/native-fetch.ts).
cc -O2 -Wall -Wextra -Werror -o dist/native/dbkeep-fetch "$native/dbkeep-fetch.c" "$native/write-all.c" -lssl -lcrypto
