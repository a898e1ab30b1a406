#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, build, typecheck, lint, format check, tests.
# Privileged tests run when this runs as root and skip with a reason otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_system_packages
ensure_node_modules
npm run --silent build
echo "== typecheck, lint, format"
npm run --silent typecheck
npm run --silent lint
npm run --silent format:check
echo "== tests"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || true
exit "$status"
