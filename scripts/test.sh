#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, build, typecheck, lint, format check, tests.
# Privileged tests run when this runs as root and skip with a reason otherwise; under CI
# (CI=true) as root, a missing prerequisite (clang, the built object, bpffs...) fails them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
WITHOUT="the tests that need them skip (as root under CI=true, they fail)" \
  ensure_system_packages "${DATAPATH_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
ensure_node_modules
npm run --silent build
echo "== typecheck, lint, format"
npm run --silent typecheck
npm run --silent lint
npm run --silent format:check
echo "== tests"
# The tests choose their Kubernetes (the API server double, or $KUBECONFIG's cluster): an agent a
# test starts must not take the in-cluster service account of a runner that is itself a pod.
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" || status=$?
# Why each skipped suite or test skipped (its title carries "(skipped: <reason>)"), one line
# per file and reason, then the totals.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const why = new Map();
  for (const file of r.testResults) {
    for (const t of file.assertionResults) {
      if (!["skipped", "pending", "todo", "disabled"].includes(t.status)) continue;
      const titles = [...t.ancestorTitles, t.title];
      const reason = titles.map((s) => /\(skipped: (.*)\)$/.exec(s)?.[1]).find(Boolean);
      const line = `${require("path").relative(process.cwd(), file.name)}: ${reason ?? `${titles.join(" > ")} (no reason given)`}`;
      why.set(line, (why.get(line) ?? 0) + 1);
    }
  }
  for (const [line, n] of why) console.log(`skipped ${line} (${n} test${n === 1 ? "" : "s"})`);
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || true
exit "$status"
