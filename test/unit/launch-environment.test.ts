import {
  chooseSocketPath,
  handshakeLine,
  LaunchError,
  negotiateVersion,
  readLaunchEnvironment,
} from '../../plugin/goplugin/launch-environment';
import { VAULT_BACKEND_HANDSHAKE } from '../../plugin/sdk/serve';

const COOKIE = { [VAULT_BACKEND_HANDSHAKE.cookieKey]: VAULT_BACKEND_HANDSHAKE.cookieValue };
const RUN_BY_HAND =
  'This executable is a test plugin: not a program to run by hand. Register it with `vault plugin register` instead.';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function read(env: NodeJS.ProcessEnv) {
  return readLaunchEnvironment(env, VAULT_BACKEND_HANDSHAKE, [5], RUN_BY_HAND);
}

describe('launch environment', () => {
  it('refuses a missing cookie with a message meant for a person', () => {
    expect(() => read({ PLUGIN_PROTOCOL_VERSIONS: '5', PLUGIN_CLIENT_CERT: CERT })).toThrow(LaunchError);
    try {
      read({});
    } catch (error) {
      expect((error as LaunchError).forHumans).toBe(true);
      expect((error as Error).message).toMatch(/vault plugin register/);
    }
  });

  it('refuses a wrong cookie value', () => {
    expect(() =>
      read({ VAULT_BACKEND_PLUGIN: 'nope', PLUGIN_PROTOCOL_VERSIONS: '5', PLUGIN_CLIENT_CERT: CERT }),
    ).toThrow(/not a program to run by hand/);
  });

  it('refuses a database-plugin launch (Vault probes unknown types as database first)', () => {
    expect(() =>
      read({ VAULT_DATABASE_PLUGIN: '926a0820-aea2-be28-51d6-83cdf00e8edb', PLUGIN_PROTOCOL_VERSIONS: '5' }),
    ).toThrow(LaunchError);
  });

  it('picks the highest common version and refuses when 5 is not offered', () => {
    expect(negotiateVersion('3,4,5', [5])).toBe(5);
    expect(negotiateVersion(' 5 ', [5])).toBe(5);
    expect(() => negotiateVersion('3,4', [5])).toThrow(/offered plugin protocol versions 3, 4/);
    expect(() => negotiateVersion(undefined, [5])).toThrow(/no version/);
    expect(() => negotiateVersion('', [5])).toThrow(LaunchError);
  });

  it('requires AutoMTLS', () => {
    expect(() => read({ ...COOKIE, PLUGIN_PROTOCOL_VERSIONS: '5' })).toThrow(/PLUGIN_CLIENT_CERT is not set/);
    expect(() => read({ ...COOKIE, PLUGIN_PROTOCOL_VERSIONS: '5', PLUGIN_CLIENT_CERT: '  ' })).toThrow(/AutoMTLS/);
  });

  it('reads the socket directory, group and multiplex request', () => {
    const launch = read({
      ...COOKIE,
      PLUGIN_PROTOCOL_VERSIONS: '4,5',
      PLUGIN_CLIENT_CERT: CERT,
      PLUGIN_UNIX_SOCKET_DIR: '/run/plugins',
      PLUGIN_UNIX_SOCKET_GROUP: '1234',
      PLUGIN_MULTIPLEX_GRPC: 'true',
    });
    expect(launch).toEqual({
      protocolVersion: 5,
      hostCertificatePem: CERT,
      socketDirectory: '/run/plugins',
      socketGroup: '1234',
      brokerMultiplexRequested: true,
    });
    const plain = read({ ...COOKIE, PLUGIN_PROTOCOL_VERSIONS: '5', PLUGIN_CLIENT_CERT: CERT });
    expect(plain.brokerMultiplexRequested).toBe(false);
    expect(plain.socketGroup).toBeUndefined();
  });
});

describe('handshake line', () => {
  // 2 bytes of DER encode to 4 base64 chars with padding "==": "AAE=" style padding must go.
  const der = Buffer.from([0x30, 0x82, 0x01, 0x02, 0x03]);

  it('has six fields and unpadded standard base64', () => {
    const line = handshakeLine({
      protocolVersion: 5,
      socketPath: '/tmp/plugin1',
      certificateDer: der,
      brokerMultiplexRequested: false,
    });
    const fields = line.split('|');
    expect(fields).toHaveLength(6);
    expect(fields.slice(0, 5)).toEqual(['1', '5', 'unix', '/tmp/plugin1', 'grpc']);
    expect(der.toString('base64')).toMatch(/=$/);
    expect(fields[5]).toBe(der.toString('base64').replace(/=+$/, ''));
    expect(line).not.toMatch(/[=\n]/);
  });

  it('adds the seventh field only when the host asked', () => {
    const line = handshakeLine({
      protocolVersion: 5,
      socketPath: '/tmp/p',
      certificateDer: der,
      brokerMultiplexRequested: true,
    });
    expect(line.split('|')).toHaveLength(7);
    expect(line.endsWith('|false')).toBe(true);
  });
});

describe('socket path', () => {
  it('is named like go-plugin sockets inside the directory', () => {
    expect(chooseSocketPath('/tmp')).toMatch(/^\/tmp\/plugin\d{10}$/);
  });

  it('refuses directories too long for a Unix socket address', () => {
    expect(() => chooseSocketPath('/' + 'x'.repeat(120))).toThrow(/longer than the 107 bytes/);
  });
});
