#!/usr/bin/env bash
# Runs every suite, prints each suite's counts and, last, one line "N passed, N failed".
# Exit status is non-zero when anything failed or a suite could not run at all.
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
total_passed=0
total_failed=0
broken=0

record() { # suite passed failed
  printf '%-14s %5d passed, %d failed\n' "$1" "$2" "$3" >> "$results/summary"
  total_passed=$((total_passed + $2))
  total_failed=$((total_failed + $3))
}

echo "== typecheck"
if npx tsc --noEmit -p tsconfig.json; then record typecheck 1 0; else record typecheck 0 1; fi

echo "== lint (ESLint, Prettier)"
if npx eslint . && npx prettier --check --log-level warn "**/*.{ts,mjs,cjs}"; then record lint 1 0; else record lint 0 1; fi

echo "== unit (jest)"
npx jest --json --outputFile="$results/jest.json" 2>&1 | grep -v '^npm warn'
if [ -s "$results/jest.json" ]; then
  read -r passed failed < <(node -e 'const r=require(process.argv[1]); console.log(r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites)' "$results/jest.json")
  record unit "$passed" "$failed"
else
  echo "jest produced no report"; broken=1; record unit 0 1
fi

echo "== conformance (Go, Vault's plugin client)"
if [ -d test/conformance ] && [ -f test/conformance/go.mod ]; then
  # The acceptance package's tests skip here (no PACHYDERM_ACC); the next section runs them.
  (cd test/conformance && env -u PACHYDERM_ACC PLUGIN_BUILD_DIR="$PWD/../../build" go test ./... -count=1 -json -timeout 20m) > "$results/go.json" 2> "$results/go.err"
  # Print the human-readable part of the run.
  node scripts/go-test-report.mjs < "$results/go.json"
  cat "$results/go.err" >&2
  read -r passed failed < <(node scripts/go-test-report.mjs --counts < "$results/go.json")
  if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then echo "conformance suite ran no test"; broken=1; failed=1; fi
  record conformance "$passed" "$failed"
fi

echo "== acceptance (a real Vault or OpenBao server)"
if [ -d test/conformance/acceptance ]; then
  ACCEPTANCE_COUNTS="$results/acceptance" bash scripts/run-acceptance.sh
  if [ $? -ne 2 ]; then
    if [ -s "$results/acceptance" ]; then
      read -r passed failed < "$results/acceptance"
    else
      echo "the acceptance suite reported no counts"; broken=1; passed=0 failed=1
    fi
    record acceptance "$passed" "$failed"
  fi
fi

echo
echo "== summary"
cat "$results/summary"
echo "${total_passed} passed, ${total_failed} failed"
[ "$total_failed" -eq 0 ] && [ "$broken" -eq 0 ]
