#!/usr/bin/env bash
# Prints the path of the Vault or OpenBao server binary the acceptance suite runs against.
#
#   BAO_BIN or VAULT_BIN   a server binary of your own (BAO_BIN first), printed as an absolute path
#   otherwise              ../shared/servers/openbao-2.6.2-linux-amd64.xz (beside the clone),
#                          unpacked once into ${XDG_CACHE_HOME:-$HOME/.cache}/pachyderm-vault-plugin/
#                          openbao-2.6.2/bao and checked against ../shared/servers/SHA256SUMS;
#                          a cached binary whose digest matches is reused
#
# Exit status 2 (and nothing on stdout) when there is no binary to use; 1 on any other failure.
# No server binary is ever written inside the repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

fail() { echo "acceptance-server: $*" >&2; exit 1; }

for variable in BAO_BIN VAULT_BIN; do
  given=${!variable:-}
  [ -n "$given" ] || continue
  [ -f "$given" ] && [ -x "$given" ] || fail "$variable=$given is not an executable file"
  # Absolute, so the path still holds from the test's own directory.
  echo "$(cd "$(dirname "$given")" && pwd)/$(basename "$given")"
  exit 0
done

version=2.6.2
shared=$root/../shared/servers
archive=$shared/openbao-$version-linux-amd64.xz
sums=$shared/SHA256SUMS
if [ ! -f "$archive" ]; then
  echo "acceptance-server: no BAO_BIN or VAULT_BIN, and no $archive" >&2
  exit 2
fi
[ -f "$sums" ] || fail "$archive has no $sums beside it"
want=$(awk -v name="openbao-$version-linux-amd64" '$2 == name || $2 == "*" name { print $1 }' "$sums")
[ -n "$want" ] || want=$(head -1 "$sums" | cut -d' ' -f1)
[[ "$want" =~ ^[0-9a-f]{64}$ ]] || fail "$sums holds no SHA-256 for openbao-$version-linux-amd64"

cache=${XDG_CACHE_HOME:-$HOME/.cache}/pachyderm-vault-plugin/openbao-$version
binary=$cache/bao
case "$cache/" in "$root"/*) fail "the cache $cache is inside the repository; set XDG_CACHE_HOME elsewhere" ;; esac

digest() { sha256sum "$1" | cut -d' ' -f1; }

if [ -x "$binary" ] && [ "$(digest "$binary")" = "$want" ]; then
  echo "$binary"
  exit 0
fi

command -v xz >/dev/null || fail "xz is needed to unpack $archive (Debian: apt-get install xz-utils)"
mkdir -p "$cache"
# Unpack beside the target and rename, so a concurrent run never sees half a binary.
partial=$(mktemp "$cache/bao.XXXXXX")
trap 'rm -f "$partial"' EXIT
xz -dc "$archive" > "$partial"
got=$(digest "$partial")
[ "$got" = "$want" ] || fail "$archive unpacks to SHA-256 $got, but $sums says $want"
chmod 755 "$partial"
mv -f "$partial" "$binary"
trap - EXIT
echo "acceptance-server: unpacked OpenBao $version into $binary" >&2
echo "$binary"
