#!/usr/bin/env python3
"""Keep a pachctl config file holding a live Pachyderm token from Vault or OpenBao.

Logs in with AppRole, reads pachyderm/creds/<role>, writes a pachctl config file (mode 0600)
and keeps the token's lease renewed at half its TTL. When a renewal comes back shorter than
asked, the lease has reached the role's max_ttl: it fetches a new token, rewrites the file and
revokes the old lease. On SIGINT/SIGTERM, or after --run-for seconds, it removes the file and
revokes the lease, so the token dies at pachd too.

    export VAULT_ADDR=https://vault.example.com:8200 VAULT_ROLE_ID=... VAULT_SECRET_ID=...
    python3 pachyderm_token.py --role ci --config ./pachyderm-config.json &
    PACH_CONFIG=./pachyderm-config.json pachctl list repo

Every event is one JSON line on stdout (never the token itself).
"""

import argparse
import datetime
import json
import os
import signal
import tempfile
import threading

import hvac


def log(event, **fields):
    now = datetime.datetime.now(datetime.timezone.utc)
    print(json.dumps({"event": event, "time": now.isoformat(timespec="milliseconds"), **fields}), flush=True)


def credential(env_name, file_name):
    """An AppRole credential from a file (preferred: it stays out of the environment) or the environment."""
    if file_name:
        with open(file_name, encoding="utf-8") as f:
            return f.read().strip()
    value = os.environ.get(env_name)
    if not value:
        raise SystemExit(f"set {env_name} or pass the matching --*-file option")
    return value


def write_config(path, context, data):
    """Write pachctl's config file atomically: a 0600 temporary file renamed over the old one."""
    config = {
        "v2": {
            "active_context": context,
            "contexts": {context: {"pachd_address": data["pachd_address"], "session_token": data["user_token"]}},
        }
    }
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pachctl-config-")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class TokenHolder:
    def __init__(self, args):
        self.args = args
        self.client = None  # the Vault client (and login token) that owns the current lease
        self.lease = None  # the creds response: lease_id, lease_duration, data

    def login(self):
        """A fresh AppRole login; each Pachyderm token is read under its own Vault token, so the
        Vault token needs to outlive one lease only (token_ttl >= the role's max_ttl)."""
        client = hvac.Client()  # VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE from the environment
        client.auth.approle.login(
            role_id=credential("VAULT_ROLE_ID", self.args.role_id_file),
            secret_id=credential("VAULT_SECRET_ID", self.args.secret_id_file),
            mount_point=self.args.approle_mount,
        )
        return client

    def fetch(self):
        client = self.login()
        lease = client.read(f"{self.args.mount}/creds/{self.args.role}")
        try:
            write_config(self.args.config, self.args.context, lease["data"])
        except OSError:
            self.revoke(client, lease, "config write failed")
            raise
        return client, lease

    def start(self):
        self.client, self.lease = self.fetch()
        self.ttl = self.lease["lease_duration"]  # what we ask for at each renewal
        log("issued", **self.describe(self.lease))

    def describe(self, lease):
        return {
            "lease_id": lease["lease_id"],
            "lease_duration": lease["lease_duration"],
            "token_expires_at": lease["data"].get("token_expires_at"),
        }

    def renew(self):
        """Renew the lease; replace the token when the renewal cannot extend it fully."""
        try:
            renewal = self.client.sys.renew_lease(self.lease["lease_id"], increment=self.ttl)
        except hvac.exceptions.VaultError as error:  # e.g. 400: the lease reached its max_ttl
            log("renew_failed", lease_id=self.lease["lease_id"], error=str(error).splitlines()[0])
            self.replace()
            return
        self.lease["lease_duration"] = renewal["lease_duration"]
        log("renewed", lease_id=renewal["lease_id"], lease_duration=renewal["lease_duration"])
        if renewal["lease_duration"] < self.ttl:
            self.replace()  # capped by max_ttl: switch while the old token still has time left

    def replace(self):
        old_client, old_lease = self.client, self.lease
        self.client, self.lease = self.fetch()  # the config file now holds the new token
        log("replaced", old_lease_id=old_lease["lease_id"], **self.describe(self.lease))
        self.revoke(old_client, old_lease, "replaced")

    def revoke(self, client, lease, reason):
        # The engine revokes the token at pachd. The lease id goes in the path (hvac's
        # sys.revoke_lease sends it in the body), so the policy can confine this to the role.
        try:
            client.adapter.put(f"/v1/sys/leases/revoke/{lease['lease_id']}")
        except Exception as error:  # the lease then ends at its TTL, and its token with it
            log("revoke_failed", lease_id=lease["lease_id"], error=str(error).splitlines()[0])
            return
        log("revoked", lease_id=lease["lease_id"], reason=reason)
        client.auth.token.revoke_self()  # the login token has nothing left to do

    def stop(self):
        if self.lease is None:
            return
        if os.path.exists(self.args.config):
            os.unlink(self.args.config)  # first, so nobody picks up a token about to die
        self.revoke(self.client, self.lease, "exit")
        self.lease = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mount", default="pachyderm", help="where the secrets engine is mounted")
    parser.add_argument("--role", default="ci", help="the engine's role: reads <mount>/creds/<role>")
    parser.add_argument("--approle-mount", default="approle", help="where AppRole is mounted")
    parser.add_argument("--role-id-file", help="file holding the AppRole role_id (else $VAULT_ROLE_ID)")
    parser.add_argument("--secret-id-file", help="file holding the AppRole secret_id (else $VAULT_SECRET_ID)")
    parser.add_argument("--config", default="pachyderm-config.json", help="pachctl config file to write")
    parser.add_argument("--context", default="vault", help="pachctl context name in that file")
    parser.add_argument("--run-for", type=float, default=0, help="stop after this many seconds (0: until signalled)")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.run_for > 0:
        timer = threading.Timer(args.run_for, stop.set)
        timer.daemon = True
        timer.start()

    holder = TokenHolder(args)
    try:
        holder.start()
        # Renew at half the lease's current duration; Event.wait returns True once we must stop.
        while not stop.wait(max(holder.lease["lease_duration"], 1) / 2):
            holder.renew()
    finally:
        holder.stop()


if __name__ == "__main__":
    main()
