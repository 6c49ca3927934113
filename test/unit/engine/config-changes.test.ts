import { ErrorType } from '../../../plugin/sdk/errors';
import { getWal, listWal } from '../../../plugin/sdk/wal';
import { ADMIN_ROTATION_WAL, type AdminRotationWal } from '../../../plugin/pachyderm/admin/admin-rotation';
import { generatePachdToken, hashPachdToken } from '../../../plugin/pachyderm/pachd/token-material';
import { RETIRED_ADMIN_WAL } from '../../../plugin/pachyderm/admin/admin-token-retirement';
import { makeLocalhostCertificate, type TlsFixture } from '../../pachd/tls-fixture';
import { EngineHarness, leaseOf } from './engine-harness';

/*
 * Configuration changes made by whoever holds `update` on config (a delegated writer, not
 * necessarily the operator who wrote the admin token): the stored admin token never follows the
 * configuration somewhere new, tokens issued before a change can still be revoked where they
 * live, and an admin token the engine minted does not outlive the configuration that held it.
 */

describe('a config writer cannot send the stored admin token elsewhere', () => {
  let harness: EngineHarness;
  let elsewhere: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
    elsewhere = await EngineHarness.start({ generation: 2 });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
    await elsewhere.stop();
  });

  it('refuses a new pachd_address without admin_token, and asks nothing of the new address', async () => {
    elsewhere.pachd.control.resetStats();
    const error = await harness.failure('update', 'config', { pachd_address: elsewhere.pachd.pachdAddress });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(/changing pachd_address needs admin_token in the same write/);
    expect(elsewhere.pachd.control.stats().calls.total).toBe(0);
    const unverified = await harness.failure('update', 'config', {
      pachd_address: elsewhere.pachd.pachdAddress,
      verify_connection: false,
    });
    expect(unverified.type).toBe(ErrorType.InvalidRequest);
    const config = await harness.request('read', 'config');
    expect(config?.data?.pachd_address).toBe(harness.pachd.pachdAddress);
  });

  it('refuses a new pachd_tls_ca without admin_token', async () => {
    const tls = makeLocalhostCertificate();
    try {
      const error = await harness.failure('update', 'config', {
        pachd_address: harness.pachd.pachdAddress.replace('grpc://', 'grpcs://'),
        pachd_tls_ca: tls.certPem.toString(),
      });
      expect(error.message).toMatch(/needs admin_token in the same write/);
    } finally {
      tls.remove();
    }
  });

  it('moves with the admin token given, and takes the same address in another spelling without it', async () => {
    await harness.request('update', 'config', {
      pachd_address: elsewhere.pachd.pachdAddress,
      admin_token: elsewhere.pachd.rootToken,
    });
    expect((await harness.request('read', 'config'))?.data?.pachd_address).toBe(elsewhere.pachd.pachdAddress);
    const bare = elsewhere.pachd.pachdAddress.replace('grpc://', '');
    await harness.request('update', 'config', { pachd_address: bare, ttl: '10m' });
    expect((await harness.request('read', 'config'))?.data?.ttl).toBe(600);
  });
});

describe('leases and journal entries reach a private-CA pachd after the configuration moved or went', () => {
  let tls: TlsFixture;
  let privatePachd: EngineHarness;
  let otherPachd: EngineHarness;

  beforeEach(async () => {
    tls = makeLocalhostCertificate();
    privatePachd = await EngineHarness.start({
      generation: 2,
      listen: '127.0.0.1:0',
      tls: { certPem: tls.certPem, keyPem: tls.keyPem },
    });
    otherPachd = await EngineHarness.start({ generation: 2 });
  });

  afterEach(async () => {
    await privatePachd.stop();
    await otherPachd.stop();
    tls.remove();
  });

  const privateAddress = () => `grpcs://localhost:${privatePachd.pachd.address.split(':').pop()}`;

  async function issueAtPrivatePachd() {
    const harness = privatePachd;
    await harness.configure({ pachd_address: privateAddress(), pachd_tls_ca: tls.certPem.toString() });
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    const token = issued?.data?.user_token as string;
    expect(harness.liveToken(token)).toBeDefined();
    return { issued, token };
  }

  it.each(['moved to another pachd', 'deleted'])(
    'revokes a lease at the private-CA pachd once the configuration was %s',
    async (change) => {
      const harness = privatePachd;
      const { issued, token } = await issueAtPrivatePachd();
      if (change === 'deleted') await harness.request('delete', 'config');
      else {
        await harness.request('update', 'config', {
          pachd_address: otherPachd.pachd.pachdAddress,
          admin_token: otherPachd.pachd.rootToken,
          pachd_tls_ca: '',
        });
      }
      await harness.revokeLease(issued);
      expect(harness.liveToken(token)).toBeUndefined();
    },
  );

  it('renews a 2.x lease at the private-CA pachd after the configuration moved', async () => {
    const harness = privatePachd;
    const { issued } = await issueAtPrivatePachd();
    await harness.request('update', 'config', {
      pachd_address: otherPachd.pachd.pachdAddress,
      admin_token: otherPachd.pachd.rootToken,
      pachd_tls_ca: '',
    });
    const renewed = await harness.request('renew', '', {}, { secret: leaseOf(issued) });
    expect(renewed?.warnings ?? []).toEqual([]);
  });
});

describe.each([1, 2] as const)('the admin token a configuration lets go of, pachd %i.x', (generation) => {
  let harness: EngineHarness;
  const adminRoles = generation === 1 ? ['SUPER'] : ['clusterAdmin'];

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
  });

  afterEach(async () => {
    await harness.stop();
  });

  /** Configures an operator's admin robot, then has the engine mint its successor. */
  async function rotatedRobotAdmin(): Promise<{ operatorToken: string; mintedFingerprint: string }> {
    const operator = harness.pachd.control.createToken({ subject: 'robot:vault', roles: adminRoles });
    await harness.configure({ admin_token: operator.token });
    const rotated = await harness.request('update', 'config/rotate-root');
    return { operatorToken: operator.token, mintedFingerprint: rotated?.data?.admin_token_fingerprint as string };
  }

  function liveTokensOf(subject: string) {
    return harness.pachd.control.listTokens().filter((token) => !token.expired && token.subject === subject);
  }

  it('revokes a token the engine minted when a write replaces it', async () => {
    const { mintedFingerprint } = await rotatedRobotAdmin();
    expect(liveTokensOf('robot:vault')).toHaveLength(1);
    const replacement = harness.pachd.control.createToken({ subject: 'robot:vault2', roles: adminRoles });
    const response = await harness.request('update', 'config', { admin_token: replacement.token });
    expect(response?.warnings?.join(' ')).toContain(
      `revoked the previous admin token (fingerprint ${mintedFingerprint}`,
    );
    expect(liveTokensOf('robot:vault')).toHaveLength(0);
    expect(await listWal(harness.storage)).toEqual([]);
    // The replacement came from an operator: deleting the configuration leaves it alone, and says so.
    const deleted = await harness.request('delete', 'config');
    expect(deleted?.warnings?.join(' ')).toMatch(/written by an operator and is left valid at pachd/);
    expect(await harness.whoAmI(replacement.token)).toBe('robot:vault2');
  });

  it('revokes a token the engine minted when the configuration is deleted', async () => {
    await rotatedRobotAdmin();
    const response = await harness.request('delete', 'config');
    expect(response?.warnings?.join(' ')).toMatch(/revoked the previous admin token/);
    expect(liveTokensOf('robot:vault')).toHaveLength(0);
  });

  it('keeps the retirement journaled while pachd cannot be asked, and the rollback finishes it', async () => {
    await rotatedRobotAdmin();
    const revoke = generation === 1 ? '/auth.API/RevokeAuthToken' : '/auth_v2.API/RevokeAuthToken';
    harness.pachd.control.injectError({ method: revoke, code: 14, message: 'injected: pachd went away', count: 1 });
    const response = await harness.request('delete', 'config');
    expect(response?.warnings?.join(' ')).toMatch(/the rollback tick retries/);
    expect(liveTokensOf('robot:vault')).toHaveLength(1);
    const [id] = await listWal(harness.storage);
    expect((await getWal(harness.storage, id ?? ''))?.kind).toBe(RETIRED_ADMIN_WAL);
    await harness.rollback({ immediate: true });
    expect(liveTokensOf('robot:vault')).toHaveLength(0);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('keeps a minted token whose retirement never landed (the process died before the change was stored)', async () => {
    await rotatedRobotAdmin();
    // The change fails after the journal entry is written: storage refuses the new configuration.
    const storage = harness.storage;
    const put = storage.put.bind(storage);
    storage.put = async (entry) => {
      if (entry.key === 'config') throw new Error('storage refused the write');
      return put(entry);
    };
    const replacement = harness.pachd.control.createToken({ subject: 'robot:vault2', roles: adminRoles });
    await expect(harness.request('update', 'config', { admin_token: replacement.token })).rejects.toThrow(
      /storage refused/,
    );
    storage.put = put;
    expect(liveTokensOf('robot:vault')).toHaveLength(1);
    await harness.rollback({ immediate: true });
    expect(liveTokensOf('robot:vault')).toHaveLength(1);
    expect(await listWal(harness.storage)).toEqual([]);
    // The configuration still works with it.
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
  });

  it('never revokes a root token the engine minted, and drops it only when told to', async () => {
    await harness.configure();
    await harness.request('update', 'config/rotate-root');
    expect(liveTokensOf('pach:root')).toHaveLength(1);
    const refused = await harness.failure('delete', 'config');
    expect(refused.type).toBe(ErrorType.InvalidRequest);
    expect(refused.message).toMatch(/only root token/);
    expect(refused.message).toMatch(/discard_root_token=true/);
    const replacement = harness.pachd.control.createToken({ subject: 'robot:vault2', roles: adminRoles });
    const refusedWrite = await harness.failure('update', 'config', { admin_token: replacement.token });
    expect(refusedWrite.message).toMatch(/only root token/);
    expect((await harness.request('read', 'config'))?.data?.admin_subject).toBe('pach:root');

    const dropped = await harness.request('delete', 'config', { discard_root_token: true });
    expect(dropped?.warnings?.join(' ')).toMatch(/discarded the pach:root token/);
    expect(await harness.request('read', 'config')).toBeUndefined();
    expect(liveTokensOf('pach:root')).toHaveLength(1);
  });

  it("leaves an operator's root token alone without asking", async () => {
    await harness.configure();
    const deleted = await harness.request('delete', 'config');
    expect(deleted?.warnings?.join(' ')).toMatch(/written by an operator/);
    expect(await harness.whoAmI(harness.pachd.rootToken)).toBe('pach:root');
  });
});

describe('an interrupted rotation of pach:root meets a configuration change', () => {
  let harness: EngineHarness;
  let elsewhere: EngineHarness;
  let oldRoot: string;
  let newRoot: string;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
    elsewhere = await EngineHarness.start({ generation: 2 });
    await harness.configure();
    oldRoot = harness.pachd.rootToken;
    newRoot = generatePachdToken();
    // pachd rotated (the old root token is gone), but the plugin died before storing the new one.
    harness.pachd.control.createToken({ subject: 'pach:root', token: newRoot });
    harness.pachd.control.deleteToken(hashPachdToken(oldRoot));
    const journal: AdminRotationWal = {
      stage: 'minting',
      subject: 'pach:root',
      generation: 2,
      pachd_address: harness.pachd.pachdAddress,
      pachd_tls_ca_sha256: '',
      old_token: oldRoot,
      new_token: newRoot,
    };
    await harness.journalAged(ADMIN_ROTATION_WAL, journal);
  });

  afterEach(async () => {
    await harness.stop();
    await elsewhere.stop();
  });

  const fingerprintOf = (token: string) => `sha256:${hashPachdToken(token).slice(0, 16)}`;

  it('never stores the new root token in a configuration moved elsewhere with the old token', async () => {
    // A writer who knows the old (now dead) token points the mount at a server of their own.
    await harness.request('update', 'config', {
      pachd_address: elsewhere.pachd.pachdAddress,
      admin_token: oldRoot,
      verify_connection: false,
    });
    await harness.rollback();
    const config = await harness.request('read', 'config');
    expect(config?.data?.admin_token_fingerprint).toBe(fingerprintOf(oldRoot));
    expect(config?.data?.pachd_address).toBe(elsewhere.pachd.pachdAddress);
    // Not revoked either: it may be the cluster's only root token.
    expect(await harness.whoAmI(newRoot)).toBe('pach:root');
    expect(harness.logLines.join('\n')).toMatch(/minted a root token that no configuration holds/);
  });

  it('refuses to let go of the old token while the new root token is journaled, unless told to, and never revokes it', async () => {
    const robot = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['clusterAdmin'] });
    const refused = await harness.failure('update', 'config', { admin_token: robot.token });
    expect(refused.type).toBe(ErrorType.InvalidRequest);
    expect(refused.message).toMatch(/a rotation of pach:root was interrupted/);
    const refusedDelete = await harness.failure('delete', 'config');
    expect(refusedDelete.message).toMatch(/a rotation of pach:root was interrupted/);

    await harness.request('update', 'config', { admin_token: robot.token, discard_root_token: true });
    await harness.rollback();
    expect(await harness.whoAmI(newRoot)).toBe('pach:root');
    expect((await harness.request('read', 'config'))?.data?.admin_token_fingerprint).toBe(fingerprintOf(robot.token));
    expect(await listWal(harness.storage)).toEqual([]);
  });
});

describe('a home is dialled with the CA it was issued under', () => {
  let issuedCa: TlsFixture;
  let otherCa: TlsFixture;
  let harness: EngineHarness;

  beforeEach(async () => {
    issuedCa = makeLocalhostCertificate();
    otherCa = makeLocalhostCertificate();
    harness = await EngineHarness.start({
      generation: 2,
      listen: '127.0.0.1:0',
      tls: { certPem: issuedCa.certPem, keyPem: issuedCa.keyPem },
    });
  });

  afterEach(async () => {
    await harness.stop();
    issuedCa.remove();
    otherCa.remove();
  });

  it('revokes with the CA a lease was issued under, not one a later write trusts for the same address', async () => {
    const address = `grpcs://localhost:${harness.pachd.address.split(':').pop()}`;
    await harness.configure({ pachd_address: address, pachd_tls_ca: issuedCa.certPem.toString() });
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    const token = issued?.data?.user_token as string;
    // A writer with a token of their own now trusts another CA for the same address (a server they
    // could hold a certificate for). Tokens issued before must not go through that trust.
    await harness.request('update', 'config', {
      pachd_tls_ca: otherCa.certPem.toString(),
      admin_token: harness.pachd.rootToken,
      verify_connection: false,
    });
    await harness.revokeLease(issued);
    expect(harness.liveToken(token)).toBeUndefined();
  });
});
