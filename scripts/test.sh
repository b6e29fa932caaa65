#!/usr/bin/env bash
# Set up (see setup.sh) and run every test: the import contract, then pytest under a virtual X screen.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/lint-imports
exec xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest "$@"
