#!/usr/bin/env bash
# Quick start: install what the agent needs, build it, and run it with its embedded defaults
# (no Kubernetes, no etcd, state in a local directory). Extra arguments go to cellium-agent.
# As root it installs the Debian packages of the datapath first, so bpf_lxc gets built.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WITHOUT="the agent runs on in-memory maps without a datapath (run as root for bpf_lxc)" \
  ensure_system_packages "${DATAPATH_PACKAGES[@]}"
ensure_node_modules
npm run --silent build
exec node dist/cellium-agent.cjs "$@"
