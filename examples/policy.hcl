# What the examples need, for the role ci of the engine mounted at pachyderm/.
# A token for the role:
path "pachyderm/creds/ci" { capabilities = ["read"] }
# Renewing leases (Vault's default policy allows it too):
path "sys/leases/renew" { capabilities = ["update"] }
# Revoking the role's leases, named in the path. (Not "sys/leases/revoke", where the lease id
# goes in the body: that would allow revoking any lease whose id one knows.)
path "sys/leases/revoke/pachyderm/creds/ci/*" { capabilities = ["update"] }
