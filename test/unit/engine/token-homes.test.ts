import { WalBatches } from '../../../plugin/sdk/wal-batches';
import { createLogger } from '../../../plugin/goplugin/logger';
import { Redactor } from '../../../plugin/goplugin/redactor';
import { ConfigStore } from '../../../plugin/pachyderm/mount/config';
import type { Engine } from '../../../plugin/pachyderm/mount/engine';
import { MAX_REQUEST_BUDGET_MS, PachdClients } from '../../../plugin/pachyderm/mount/pachd-clients';
import { DeadlineTimers } from '../../../plugin/pachyderm/mount/deadline-timers';
import { SerialRunner } from '../../../plugin/pachyderm/mount/serial-runner';
import { PachdObservations } from '../../../plugin/pachyderm/mount/pachd-observations';
import { TLS_CA_PREFIX, TlsCaStore, tlsCaReference } from '../../../plugin/pachyderm/mount/tls-ca-store';
import { authApiAtHome } from '../../../plugin/pachyderm/mount/token-home';
import { WAL_ROLLBACK_MIN_AGE_MS } from '../../../plugin/pachyderm/mount/wal-rollback';
import { InMemoryStorage } from '../../../plugin/sdk/storage';
import { StaticSystemView } from '../../../plugin/sdk/system-view';
import { MountLeaseTtlCache } from '../../../plugin/pachyderm/mount/mount-lease-ttls';
import { makeLocalhostCertificate } from '../../pachd/tls-fixture';

/* Where a token lives, and what reaching it there needs, whatever the configuration became. */

function engineFor(): Engine {
  const system = new StaticSystemView({ defaultLeaseTtl: 3600n * 1_000_000_000n, maxLeaseTtl: 3600n * 1_000_000_000n });
  return {
    configs: new ConfigStore(new Redactor()),
    pachd: new PachdClients(),
    system,
    mountTtls: new MountLeaseTtlCache(system),
    logger: createLogger({ module: 'test', write: () => undefined }),
    issuanceTiming: false,
    tlsCas: new TlsCaStore(),
    observations: new PachdObservations(),
    staticRoles: new SerialRunner(),
    storage: new InMemoryStorage(),
    retirements: new DeadlineTimers(() => undefined),
    issuanceBatches: new WalBatches('test-batch', createLogger({ module: 'test', write: () => undefined })),
  };
}

describe('CA copies for token homes', () => {
  const pem = (() => {
    const fixture = makeLocalhostCertificate();
    const text = fixture.certPem.toString();
    fixture.remove();
    return text;
  })();

  it('stores a copy once under its SHA-256, and nothing for the system roots', async () => {
    const storage = new InMemoryStorage();
    const store = new TlsCaStore();
    expect(await store.keep(storage, '')).toBeUndefined();
    const reference = await store.keep(storage, pem);
    expect(reference).toBe(tlsCaReference(pem));
    expect(await storage.list(TLS_CA_PREFIX)).toEqual([reference]);
    // Another process (empty cache) finds the same copy.
    expect(await new TlsCaStore().fetch(storage, reference ?? '')).toBe(pem);
  });

  it('treats a copy that does not match its name as missing, and says which one a home lacks (502)', async () => {
    const storage = new InMemoryStorage();
    const reference = (await new TlsCaStore().keep(storage, pem)) ?? '';
    await storage.put({ key: TLS_CA_PREFIX + reference, value: Buffer.from(pem.replace('A', 'B')) });
    expect(await new TlsCaStore().fetch(storage, reference)).toBeUndefined();

    const home = {
      pachd_address: 'grpcs://pachd.invalid:30650',
      generation: 2 as const,
      pachd_tls_ca_sha256: reference,
    };
    await expect(authApiAtHome(engineFor(), storage, undefined, home)).rejects.toMatchObject({
      code: 502,
      message: expect.stringContaining(`tls-ca/${reference}`),
    });
    await storage.delete(TLS_CA_PREFIX + reference);
    await expect(authApiAtHome(engineFor(), storage, undefined, home)).rejects.toMatchObject({ code: 502 });
  });
});

describe('the journal outlives every call of its request', () => {
  it('spends at most half the rollback age on pachd, however long the host would wait', () => {
    expect(2 * MAX_REQUEST_BUDGET_MS).toBeLessThanOrEqual(WAL_ROLLBACK_MIN_AGE_MS);
    const clients = new PachdClients();
    const settings = {
      pachd_address: 'grpc://127.0.0.1:1',
      pachd_tls_ca: '',
      request_timeout_seconds: 10,
      pachd_max_in_flight: 2,
    };
    const before = Date.now();
    const connection = clients.connection(settings, { deadline: before + 24 * 3600 * 1000 });
    expect(connection.deadline).toBeLessThanOrEqual(Date.now() + MAX_REQUEST_BUDGET_MS);
    expect(connection.deadline).toBeGreaterThanOrEqual(before + MAX_REQUEST_BUDGET_MS);
    clients.close();
  });
});
