import { ErrorType } from '../../../plugin/sdk/errors';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AddressError, parsePachdAddress } from '../../../plugin/pachyderm/pachd/address';
import { makeLocalhostCertificate, type TlsFixture } from '../../pachd/tls-fixture';
import { EngineHarness } from './engine-harness';

describe('pachd addresses', () => {
  it.each([
    ['pachd.example.com', 'grpc://pachd.example.com:30650', 'pachd.example.com:30650', false],
    ['pachd:650', 'grpc://pachd:650', 'pachd:650', false],
    ['grpc://10.0.0.1', 'grpc://10.0.0.1:30650', '10.0.0.1:30650', false],
    ['http://pachd', 'grpc://pachd:30650', 'pachd:30650', false],
    ['http://pachd:80', 'grpc://pachd:80', 'pachd:80', false],
    ['grpcs://pachd:443', 'grpcs://pachd:443', 'pachd:443', true],
    ['https://pachd', 'grpcs://pachd:30650', 'pachd:30650', true],
    ['grpc://[::1]:1650', 'grpc://[::1]:1650', '[::1]:1650', false],
    ['unix:///var/run/pachd.sock', 'unix:///var/run/pachd.sock', 'unix:///var/run/pachd.sock', false],
  ])('reads %s', (input, canonical, target, tls) => {
    expect(parsePachdAddress(input)).toMatchObject({ canonical, target, tls });
  });

  it.each([
    ['', 'no pachd address'],
    ['ftp://pachd', 'unrecognized scheme in pachd address: ftp'],
    ['grpc://user:pass@pachd', 'login credentials'],
    ['grpc://pachd/path', 'should not include a path'],
    ['grpc://pachd/', 'should not include a path'],
    ['grpc://pachd?x=1', 'query string'],
    ['grpc://pachd#frag', 'fragment'],
    ['grpc://pachd:99999', 'could not parse port'],
    ['grpc://pachd:', 'could not parse port'],
    ['unix://relative.sock', 'absolute socket path'],
  ])('refuses %s', (input, message) => {
    expect(() => parsePachdAddress(input)).toThrow(AddressError);
    expect(() => parsePachdAddress(input)).toThrow(message);
  });
});

describe('TLS to pachd', () => {
  let tls: TlsFixture;
  let harness: EngineHarness;

  beforeAll(async () => {
    tls = makeLocalhostCertificate();
    harness = await EngineHarness.start({
      generation: 2,
      listen: '127.0.0.1:0',
      tls: { certPem: tls.certPem, keyPem: tls.keyPem },
    });
  });

  afterAll(async () => {
    await harness.stop();
    tls.remove();
  });

  const port = () => harness.pachd.address.split(':').pop();

  it('connects over grpcs:// trusting the configured CA bundle', async () => {
    await harness.configure({ pachd_address: `grpcs://localhost:${port()}`, pachd_tls_ca: tls.certPem.toString() });
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(issued?.data?.pachd_address).toBe(`grpcs://localhost:${port()}`);
    expect(harness.liveToken(issued?.data?.user_token as string)?.subject).toBe('robot:ci');
  });

  it('refuses a server its CA bundle does not vouch for', async () => {
    const other = makeLocalhostCertificate();
    try {
      const error = await harness.failure('create', 'config', {
        pachd_address: `grpcs://localhost:${port()}`,
        admin_token: harness.pachd.rootToken,
        pachd_tls_ca: other.certPem.toString(),
      });
      expect(error.code).toBe(502);
    } finally {
      other.remove();
    }
  });

  it('does not speak plaintext to a TLS pachd', async () => {
    const error = await harness.failure('create', 'config', {
      pachd_address: `grpc://localhost:${port()}`,
      admin_token: harness.pachd.rootToken,
      pachd_tls_ca: '',
    });
    // A new address that does not answer is a bad value: a 400 that suggests grpcs://.
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toContain('grpcs://');
  });
});

describe('unix:// pachd addresses (2.x)', () => {
  it('issues tokens through a Unix socket', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'pachd-sock-'));
    const socket = path.join(directory, 'pachd.sock');
    const harness = await EngineHarness.start({ generation: 2, listen: `unix://${socket}` });
    try {
      await harness.configure({ pachd_address: `unix://${socket}` });
      const issued = await harness.request('update', 'login', { username: 'user:alice@example.com' });
      expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('user:alice@example.com');
    } finally {
      await harness.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
