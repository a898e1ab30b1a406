#!/usr/bin/env bash
# Quick start: install what the agent needs, build it, and run it with its embedded defaults
# (no Kubernetes, no etcd, state in a local directory). Extra arguments go to cellium-agent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_node_modules
npm run --silent build
exec node dist/cellium-agent.mjs "$@"
