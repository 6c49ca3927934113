#!/usr/bin/env bash
# Runs the acceptance suite (test/conformance/acceptance) against a real Vault or OpenBao
# server and ends with its own line "N passed, N failed". `make acceptance` runs it, and so does
# scripts/run-tests.sh (make test, .ci/run), which counts it in its final line.
#
# The server binary: BAO_BIN or VAULT_BIN, else OpenBao 2.6.2 unpacked from
# ../shared/servers into a cache outside the repository (scripts/acceptance-server.sh).
#
# Exit status: 0 when every test passed, 1 when any failed or the suite could not run, 2 when
# there is no server binary (nothing ran). With ACCEPTANCE_COUNTS=<file>, writes "passed failed"
# there as well. PLUGIN_BUILD_DIR picks another build than build/.
set -uo pipefail
cd "$(dirname "$0")/.."

server=$(scripts/acceptance-server.sh)
status=$?
if [ $status -eq 2 ]; then
  echo "acceptance: skipped (no server binary: set BAO_BIN or VAULT_BIN, or put openbao-2.6.2-linux-amd64.xz in ../shared/servers)"
  exit 2
elif [ $status -ne 0 ] || [ -z "$server" ]; then
  echo "acceptance: cannot prepare the server binary"
  passed=0 failed=1
else
  echo "acceptance: $("$server" version 2>/dev/null | head -1) ($server)"
  results=$(mktemp -d)
  trap 'rm -rf "$results"' EXIT
  (cd test/conformance && BAO_BIN="$server" PACHYDERM_ACC=1 PLUGIN_BUILD_DIR="${PLUGIN_BUILD_DIR:-$PWD/../../build}" \
    go test ./acceptance/ -count=1 -json -parallel 4 -timeout 10m) > "$results/go.json" 2> "$results/go.err"
  node scripts/go-test-report.mjs < "$results/go.json"
  cat "$results/go.err" >&2
  read -r passed failed < <(node scripts/go-test-report.mjs --counts < "$results/go.json")
  if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then echo "acceptance: the suite ran no test"; failed=1; fi
fi
[ -z "${ACCEPTANCE_COUNTS:-}" ] || echo "$passed $failed" > "$ACCEPTANCE_COUNTS"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
