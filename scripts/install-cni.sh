#!/usr/bin/env bash
# Installs cellium-cni where the container runtime looks for plugins, and its network
# configuration. Usage: scripts/install-cni.sh [CNI_BIN_DIR] [CNI_CONF_DIR]
# (defaults /opt/cni/bin and /etc/cni/net.d). Run `npm run build` first. The Helm chart's
# init container runs it from the image with CNI_HOST_BIN_DIR set (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=${1:-/opt/cni/bin}
conf_dir=${2:-/etc/cni/net.d}
root=$(pwd)
mkdir -p "$bin_dir" "$conf_dir"
node=$(command -v node)
plugin="$root/dist/cellium-cni.cjs"
# From the chart's init container the plugin runs on the host, where this image's node and files
# are not: with CNI_HOST_BIN_DIR (BIN_DIR as the host sees it) node, the plugin and koffi are
# copied to BIN_DIR/.cellium-cni-<version> (run by the host's glibc) and the wrapper points there;
# older copies go once the wrapper no longer names them.
if [ -n "${CNI_HOST_BIN_DIR:-}" ]; then
  bundle=$(cd dist && ls cellium-cni.bundle.*.cjs)
  rt=".cellium-cni-$("$node" -p process.version)-${bundle#cellium-cni.bundle.}"
  rt=${rt%.cjs}
  if [ ! -d "$bin_dir/$rt" ]; then
    stage=$(mktemp -d "$bin_dir/.cellium-cni-new.XXXXXX")
    mkdir -p "$stage/dist" "$stage/node_modules"
    cp "$node" "$stage/node"
    cp dist/cellium-cni.cjs "dist/$bundle" "$stage/dist/"
    cp -r node_modules/koffi node_modules/@koromix "$stage/node_modules/"
    chmod -R a+rX "$stage"
    mv "$stage" "$bin_dir/$rt"
  fi
  node="$CNI_HOST_BIN_DIR/$rt/node"
  plugin="$CNI_HOST_BIN_DIR/$rt/dist/cellium-cni.cjs"
fi
tmp=$(mktemp "$bin_dir/.cellium-cni.XXXXXX")
cat > "$tmp" <<SH
#!/bin/sh
exec "$node" "$plugin" "\$@"
SH
chmod 0755 "$tmp"
mv -f "$tmp" "$bin_dir/cellium-cni"
if [ -n "${CNI_HOST_BIN_DIR:-}" ]; then
  for d in "$bin_dir"/.cellium-cni-*; do
    [ "$d" = "$bin_dir/$rt" ] || rm -rf "$d"
  done
fi
install -m 0644 cells/cni/05-cellium.conflist "$conf_dir/05-cellium.conflist"
echo "installed $bin_dir/cellium-cni and $conf_dir/05-cellium.conflist"
