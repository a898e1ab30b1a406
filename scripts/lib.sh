# Shared by scripts/*.sh: install what the project needs, only when it is missing.

# Node packages at the versions package-lock.json pins, skipped when node_modules is current.
# `npm install`, not `npm ci`: npm 11 leaves other platforms' optional packages (rollup's,
# esbuild's) out of the lock file it writes, and then `npm ci` refuses that same file.
ensure_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm install --no-audit --no-fund
  fi
}

# Debian packages the build and tests need: clang and libbpf headers for datapath-c, iproute2
# and ping for the network-namespace tests, gcc for the C baseline of the map benchmark.
SYSTEM_PACKAGES=(clang llvm libbpf-dev make iproute2 iputils-ping gcc libc6-dev util-linux)
ensure_system_packages() {
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
