import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { version } from '../../package.json';

/**
 * The operator scripts, run for real with a stand-in `vault` CLI that records its arguments
 * (CI has no Vault server). What a real Vault and OpenBao make of the same commands was checked
 * by hand with OpenBao 2.6.2.
 */
const root = path.resolve(__dirname, '../..');

describe('scripts/register', () => {
  let work: string;
  let calls: string;
  let fakeVault: string;
  let pluginFile: string;

  beforeEach(() => {
    work = mkdtempSync(path.join(tmpdir(), 'register-'));
    calls = path.join(work, 'calls');
    fakeVault = path.join(work, 'vault');
    // Answers `secrets list` with the mounts named in MOUNTED, everything else with success.
    writeFileSync(
      fakeVault,
      `#!/bin/sh\necho "$*" >> ${calls}\nif [ "$1 $2" = "secrets list" ]; then echo "{\\"$MOUNTED\\": {}}"; fi\n`,
    );
    chmodSync(fakeVault, 0o755);
    pluginFile = path.join(work, 'plugin-build');
    writeFileSync(pluginFile, '#!/bin/sh\necho not really a plugin\n');
    chmodSync(pluginFile, 0o755);
  });

  afterEach(() => rmSync(work, { recursive: true, force: true }));

  function register(env: Record<string, string>) {
    return spawnSync(path.join(root, 'scripts/register'), [], {
      cwd: root,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        VAULT_BIN: fakeVault,
        PLUGIN_FILE: pluginFile,
        PLUGIN_DIR: work,
        VAULT_ADDR: 'http://127.0.0.1:1',
        VAULT_TOKEN: 'test-token',
        MOUNTED: 'none/',
        ...env,
      },
    });
  }

  it('installs the file, registers it by SHA-256 and version, and mounts it, printing each command', () => {
    const result = register({});
    expect(result.status).toBe(0);
    const installed = readFileSync(path.join(work, 'pachyderm'));
    const sha256 = createHash('sha256').update(installed).digest('hex');
    expect(installed.equals(readFileSync(pluginFile))).toBe(true);
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      `plugin register -sha256=${sha256} -version=v${version} -command=pachyderm secret pachyderm`,
      'secrets list -format=json',
      `secrets enable -path=pachyderm -plugin-version=v${version} pachyderm`,
    ]);
    expect(result.stdout).toContain(`+ ${fakeVault} plugin register -sha256=${sha256}`);
    expect(result.stdout).toContain(`+ ${fakeVault} secrets enable`);
  });

  it('moves an existing mount to the new version instead of mounting again', () => {
    const result = register({ MOUNTED: 'pachyderm/' });
    expect(result.status).toBe(0);
    const lines = readFileSync(calls, 'utf8').trim().split('\n');
    expect(lines.slice(2)).toEqual([
      `secrets tune -plugin-version=v${version} pachyderm`,
      'plugin reload -plugin=pachyderm',
    ]);
  });

  it('says what is missing', () => {
    expect(register({ PLUGIN_DIR: '' }).stderr).toContain('set PLUGIN_DIR');
    expect(register({ VAULT_TOKEN: '' }).stderr).toContain('set VAULT_TOKEN');
    const noFile = register({ PLUGIN_FILE: path.join(work, 'missing') });
    expect(noFile.status).not.toBe(0);
    expect(noFile.stderr).toContain('run make plugin first');
  });
});

describe('make dev', () => {
  it('without a vault or bao binary says what to install and fails', () => {
    const emptyPath = mkdtempSync(path.join(tmpdir(), 'no-vault-'));
    const result = spawnSync(process.execPath, [path.join(root, 'scripts/dev.mjs')], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: emptyPath },
    });
    rmSync(emptyPath, { recursive: true, force: true });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/found neither `vault` nor `bao`/);
    expect(result.stderr).toContain('VAULT_BIN');
  });
});
