#!/usr/bin/env bash
# Installs cellium-cni where the container runtime looks for plugins, and its network
# configuration. Usage: scripts/install-cni.sh [CNI_BIN_DIR] [CNI_CONF_DIR]
# (defaults /opt/cni/bin and /etc/cni/net.d). Run `npm run build` first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=${1:-/opt/cni/bin}
conf_dir=${2:-/etc/cni/net.d}
root=$(pwd)
mkdir -p "$bin_dir" "$conf_dir"
tmp=$(mktemp "$bin_dir/.cellium-cni.XXXXXX")
cat > "$tmp" <<SH
#!/bin/sh
exec "$(command -v node)" "$root/dist/cellium-cni.cjs" "\$@"
SH
chmod 0755 "$tmp"
mv -f "$tmp" "$bin_dir/cellium-cni"
install -m 0644 cells/cni/05-cellium.conflist "$conf_dir/05-cellium.conflist"
echo "installed $bin_dir/cellium-cni and $conf_dir/05-cellium.conflist"
