import { Backend, type BackendConfig } from '../sdk/framework';
import { WalBatches } from '../sdk/wal-batches';
import { PLUGIN_VERSION } from './version';
import { ConfigStore, CONFIG_KEY } from './mount/config';
import type { Engine } from './mount/engine';
import { PachdClients } from './mount/pachd-clients';
import { MountLeaseTtlCache } from './mount/mount-lease-ttls';
import { PachdObservations } from './mount/pachd-observations';
import { configPath } from './path-config';
import { rotateRootPath } from './path-config-rotate-root';
import { credsPath } from './path-creds';
import { loginPath } from './path-login';
import { revokePath } from './path-revoke';
import { rolePaths } from './path-roles';
import { versionPaths } from './path-version';
import { pachdTokenSecret } from './secret-pachd-token';
import { TlsCaStore, TLS_CA_PREFIX } from './mount/tls-ca-store';
import { walRollback, WAL_ROLLBACK_MIN_AGE_MS } from './mount/wal-rollback';
import { ISSUANCE_BATCH_WAL, issuanceBatchRollback, issuanceRollback } from './issuance/issuance-journal';
import { adminRotationRollback } from './admin/admin-rotation-rollback';
import { adminRetirementRollback } from './admin/admin-token-retirement';
import { runScheduledRotation } from './admin/rotation-scheduler';
import { DeadlineTimers } from './mount/deadline-timers';
import { SerialRunner } from './mount/serial-runner';
import { rotateRolePath } from './path-rotate-role';
import { STATIC_TOKEN_FIELD, staticCredsPath } from './path-static-creds';
import { staticRolePaths } from './path-static-roles';
import { RoleStore } from './roles/role-store';
import { STATIC_ROLE_PREFIX } from './roles/static-role';
import { staticDeleteRollback } from './static-robots/static-delete';
import { staticRotationRollback } from './static-robots/static-rotation';
import { runStaticRotations } from './static-robots/static-scheduler';

export const PLUGIN_NAME = 'pachyderm';
export const PLUGIN_DESCRIPTION = 'the Pachyderm secrets engine for HashiCorp Vault and OpenBao';

const BACKEND_HELP = `
The Pachyderm secrets engine issues short-lived Pachyderm (pachd) tokens behind Vault leases.

Configure it once with pachd's address and an admin token (config). Then callers get tokens
for a role's subject (roles/, creds/) or, with the original plugin's flow, for any subject
(login). Renewing a lease keeps its token alive; revoking it, or letting it expire, revokes the
token at pachd. Static robots (static-roles/, static-creds/, rotate-role/) are fixed pachd robots
whose token the engine holds and rotates on a schedule. Works with pachd 1.x and 2.x.
`;

export function createPachydermBackend(config: BackendConfig): Backend {
  const roles = new RoleStore();
  const engine: Engine = {
    configs: new ConfigStore(config.redactor),
    pachd: new PachdClients(),
    system: config.system,
    mountTtls: new MountLeaseTtlCache(config.system),
    logger: config.logger,
    issuanceTiming: process.env.PLUGIN_ISSUANCE_TIMING === '1',
    tlsCas: new TlsCaStore(),
    observations: new PachdObservations(),
    staticRoles: new SerialRunner(),
    storage: config.storage,
    retirements: new DeadlineTimers((role, error) =>
      config.logger.warn("a static robot's grace timer failed; the rollback tick revokes what is due", {
        role,
        error: error instanceof Error ? error.message : String(error),
      }),
    ),
    issuanceBatches: new WalBatches(ISSUANCE_BATCH_WAL, config.logger),
  };
  // As a lease's user_token (marked sensitive by its secret type), a static robot's token is
  // redacted by name from every log line; its value is not held, so static-creds may return it.
  config.redactor.addFieldName(STATIC_TOKEN_FIELD);
  return new Backend(
    {
      help: BACKEND_HELP,
      operationPrefix: PLUGIN_NAME,
      version: PLUGIN_VERSION,
      paths: [
        rotateRootPath(engine),
        configPath(engine),
        ...rolePaths(engine, roles),
        credsPath(engine, roles),
        loginPath(engine),
        revokePath(engine),
        ...staticRolePaths(engine),
        staticCredsPath(engine),
        rotateRolePath(engine),
        ...versionPaths(engine),
      ],
      secrets: [pachdTokenSecret(engine)],
      specialPaths: {
        // The journal of side effects at pachd is per cluster, and holds token values; leases are
        // per cluster too, and so are the CA copies their homes name.
        localStorage: ['wal/', TLS_CA_PREFIX],
        sealWrapStorage: [CONFIG_KEY, 'wal/', STATIC_ROLE_PREFIX],
      },
      // Before the WAL rollback of the same tick, which may finish a rotation this one began. The
      // admin token first: static robots' rotations use it.
      periodic: async (request) => {
        await runScheduledRotation(engine, request);
        await runStaticRotations(engine, request);
      },
      walRollback: walRollback(engine, [
        issuanceRollback,
        issuanceBatchRollback,
        adminRotationRollback,
        adminRetirementRollback,
        staticRotationRollback,
        staticDeleteRollback,
      ]),
      walRollbackMinAgeMs: WAL_ROLLBACK_MIN_AGE_MS,
      // Issuances' shared records first, while the host still serves storage: delivered members
      // must not stay journaled for the rollback to revoke under a held lease. Then grace timers:
      // one that fired may still be revoking at pachd.
      cleanup: async () => {
        await engine.issuanceBatches.flush();
        await engine.retirements.close();
        await engine.pachd.close();
      },
      invalidate: (key) => {
        if (key === CONFIG_KEY) engine.configs.invalidate();
        roles.invalidate(key);
      },
    },
    config,
  );
}
