# Shared by scripts/*.sh: install what the project needs, only when it is missing.

# Node packages at the versions package-lock.json pins, skipped when node_modules is current.
# `npm install`, not `npm ci`: npm 11 leaves other platforms' optional packages (rollup's,
# esbuild's) out of the lock file it writes, and then `npm ci` refuses that same file.
ensure_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm install --no-audit --no-fund
  fi
}

# Debian packages the agent needs for its datapath: clang, llvm and the libbpf headers build
# datapath-c (its Makefile asks gcc for the multiarch include path, which libc6-dev fills);
# libbpf-dev brings libbpf.so.1, which the agent loads; iproute2 and util-linux (nsenter,
# unshare) are what an operator and the tests use to look at and run in namespaces.
DATAPATH_PACKAGES=(clang llvm libbpf-dev make gcc libc6-dev iproute2 util-linux)
# What only the tests add: ping between pods, strace (the API socket test), mount (tmpfs state),
# bpftool (map dumps read independently of the agent), prometheus (promtool lints a metrics scrape),
# Go with sprig and sigs.k8s.io/yaml (test/support/helm-render renders the Helm chart as helm does),
# gobgpd and bird2 (the real routers of the BGP interop tests and benchmark).
TEST_PACKAGES=(iputils-ping strace mount bpftool prometheus etcd-server gobgpd bird2
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev)

# Prints, space-separated, the packages among "$@" that are not installed (one dpkg-query for
# all). `dpkg -s` is not enough: it succeeds for a removed package whose config files remain.
missing_packages() {
  local installed=" $(dpkg-query -W -f='${Package}:${db:Status-Status} ' "$@" 2>/dev/null || true)"
  local missing=()
  for p in "$@"; do
    [[ "$installed" == *" $p:installed "* ]] || missing+=("$p")
  done
  echo "${missing[*]}"
}

# Installs the packages among "$@" that are missing (apt-get update first, as a fresh machine's
# package lists may be empty). Without root, or without dpkg, it prints one line naming what is
# missing and what follows ($WITHOUT), and returns 0: the caller decides whether that is fatal.
ensure_system_packages() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "not a Debian system: install $* (or your system's equivalents) yourself; ${WITHOUT:-}" >&2
    return 0
  fi
  local missing
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "not root, so not installing $missing: ${WITHOUT:-}" >&2
    return 0
  fi
  echo "installing $missing" >&2
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
}
