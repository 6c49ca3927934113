#!/usr/bin/env bash
# Runs a command with a Pachyderm token from Vault or OpenBao, for CI jobs:
#
#   pachyderm-token.sh [--mount pachyderm] [--role ci] [--config FILE] -- COMMAND [ARGS...]
#
# It reads <mount>/creds/<role> with the vault or bao CLI, writes a pachctl config file (0600),
# runs COMMAND with PACH_CONFIG pointing at it, and meanwhile renews the lease at half its TTL;
# when a renewal comes back shorter than asked (the role's max_ttl is near) it reads a new token,
# rewrites the file (pachctl rereads it at each call) and revokes the old lease. At the end,
# whatever happens, it removes the file and revokes the lease, so the token dies at pachd.
# It exits with COMMAND's status.
#
# Needs: VAULT_ADDR (or BAO_ADDR) and a Vault token (VAULT_TOKEN/BAO_TOKEN, or the CLI's token
# helper) with ../policy.hcl; the CLI (vault or bao on PATH, or VAULT_BIN); jq, or python3 when
# jq is missing; GNU date (Linux). Events go to stderr as one JSON line each (never the token),
# so COMMAND's stdout stays its own.
set -euo pipefail

mount=pachyderm role=ci config=
while [ $# -gt 0 ]; do
  case "$1" in
    --mount) mount=$2; shift 2 ;;
    --role) role=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--mount M] [--role R] [--config FILE] -- COMMAND [ARGS...]" >&2; exit 2; }

VAULT_BIN=${VAULT_BIN:-$(command -v vault || command -v bao || true)}
[ -n "$VAULT_BIN" ] || { echo "$0: no vault or bao CLI on PATH; set VAULT_BIN" >&2; exit 2; }
# The bao CLI reads BAO_*, the vault CLI VAULT_*: give each what the other was given.
export VAULT_ADDR=${VAULT_ADDR:-${BAO_ADDR:-}} BAO_ADDR=${BAO_ADDR:-${VAULT_ADDR:-}}
[ -z "${VAULT_TOKEN:-${BAO_TOKEN:-}}" ] || export VAULT_TOKEN=${VAULT_TOKEN:-$BAO_TOKEN} BAO_TOKEN=${BAO_TOKEN:-$VAULT_TOKEN}

# json FILE EXPR: one field of a JSON document (EXPR in jq's syntax: .a.b).
if command -v jq >/dev/null; then
  json() { jq -r "$2 // empty" "$1"; }
else
  json() { python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].strip(".").split("."): v = (v or {}).get(k)
print("" if v is None else v)' "$1" "$2"; }
fi

work=$(mktemp -d)                       # private (0700): the creds JSON holds the token
config=${config:-$work/pachyderm-config.json}
state=$work/lease                       # the current lease id, shared with the renewer
event() { printf '{"event":"%s","time":"%s"%s}\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "${2:-}" >&2; }

# fetch: read a new token into $work/creds.json and write the pachctl config file from it.
# (Each step checks its status: set -e does not apply inside "fetch || ...".)
fetch() {
  local tmp address token
  (umask 077 && "$VAULT_BIN" read -format=json "$mount/creds/$role" > "$work/creds.json") || return 1
  address=$(json "$work/creds.json" .data.pachd_address) && token=$(json "$work/creds.json" .data.user_token) &&
    lease=$(json "$work/creds.json" .lease_id) && ttl=$(json "$work/creds.json" .lease_duration) &&
    [ -n "$token" ] && [ -n "$lease" ] || return 1
  rm -f "$work/creds.json"
  # Next to the file and renamed over it, so pachctl never reads half of it; mktemp makes it 0600.
  tmp=$(mktemp "$config.XXXXXX") || return 1
  printf '{"v2": {"active_context": "vault", "contexts": {"vault": {"pachd_address": "%s", "session_token": "%s"}}}}\n' \
    "$address" "$token" > "$tmp" && mv -f "$tmp" "$config" || { rm -f "$tmp"; return 1; }
}

revoke() { # lease reason; a lease not revoked ends at its TTL, and its token with it
  if "$VAULT_BIN" lease revoke "$1" >/dev/null; then
    event revoked ",\"lease_id\":\"$1\",\"reason\":\"$2\""
  else
    event revoke_failed ",\"lease_id\":\"$1\""; return 1
  fi
}

# The renewer, in the background. It stops at SIGTERM, after finishing the step it is in.
renewer() {
  local stop=0 sleeper duration
  trap 'stop=1; kill "$sleeper" 2>/dev/null || true' TERM
  while [ "$stop" = 0 ]; do
    sleep $((duration = ${duration:-$ttl}, duration > 1 ? duration / 2 : 1)) & sleeper=$!
    wait "$sleeper" || true
    [ "$stop" = 0 ] || break
    if duration=$("$VAULT_BIN" lease renew -format=json -increment="$ttl" "$lease" > "$work/renew.json" &&
      json "$work/renew.json" .lease_duration); then
      event renewed ",\"lease_id\":\"$lease\",\"lease_duration\":$duration"
      [ "$duration" -lt "$ttl" ] || continue      # not capped yet: keep renewing
    else
      event renew_failed ",\"lease_id\":\"$lease\""
    fi
    # Capped by max_ttl, or refused: switch to a new token while the old one still lives.
    local old=$lease
    # If no new token comes, stop renewing: the command keeps the old one until it expires.
    fetch || { event fetch_failed ",\"lease_id\":\"$old\""; break; }
    echo "$lease" > "$state"
    event replaced ",\"lease_id\":\"$lease\",\"old_lease_id\":\"$old\",\"lease_duration\":$ttl"
    revoke "$old" replaced || true
    duration=$ttl
  done
}

cleanup() {
  [ -z "${command_pid:-}" ] || kill -TERM "$command_pid" 2>/dev/null || true
  [ -z "${renewer_pid:-}" ] || { kill -TERM "$renewer_pid" 2>/dev/null || true; wait "$renewer_pid" || true; }
  rm -f "$config"                         # first, so nobody picks up a token about to die
  [ ! -s "$state" ] || revoke "$(cat "$state")" exit || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fetch || { echo "$0: no token from $mount/creds/$role" >&2; exit 1; }
echo "$lease" > "$state"
event issued ",\"lease_id\":\"$lease\",\"lease_duration\":$ttl"
renewer & renewer_pid=$!

# Run the command in the background (stdin kept) so that a signal reaches the trap at once.
PACH_CONFIG=$config "$@" <&0 & command_pid=$!
status=0
wait "$command_pid" || status=$?
command_pid=
exit "$status"
