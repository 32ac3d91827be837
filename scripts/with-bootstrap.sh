#!/usr/bin/env bash
# Usage: scripts/with-bootstrap.sh CMD [ARG...] — bootstraps, then becomes CMD.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec "$@"
