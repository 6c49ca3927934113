// `make dev`: a Vault (or OpenBao) dev server with build/ as its plugin directory, the plugin
// registered and mounted at pachyderm/, a pachd stand-in configured as its pachd, and the
// commands to try next. Ctrl-C stops everything it started.
//
//   VAULT_BIN=/path/to/vault|bao   the server binary (default: vault on PATH, else bao)
//   PACHD_GENERATION=1|2           which pachd the stand-in plays (default 2)
//   VAULT_PORT=8200                where the dev server listens (on 127.0.0.1)
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(root, 'build');
const devDir = path.join(buildDir, 'dev');
const generation = process.env.PACHD_GENERATION ?? '2';
const port = process.env.VAULT_PORT ?? '8200';
const address = `http://127.0.0.1:${port}`;
const rootToken = 'root';
const children = [];

function say(message) {
  process.stdout.write(`${message}\n`);
}

function fail(message) {
  process.stderr.write(`dev: ${message}\n`);
  stopAll().then(() => process.exit(1));
}

function findServer() {
  if (process.env.VAULT_BIN) return process.env.VAULT_BIN;
  for (const name of ['vault', 'bao']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // not on PATH
    }
  }
  return undefined;
}

async function stopAll() {
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function waitForServer(server) {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (server.exitCode !== null) return false;
    try {
      const response = await fetch(`${address}/v1/sys/health`);
      if (response.status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

function startStandin() {
  const standin = spawn(process.execPath, [path.join(buildDir, 'pachd-standin.js'), '--generation', generation], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(standin);
  standin.stderr.pipe(createWriteStream(path.join(devDir, 'pachd-standin.log')));
  return new Promise((resolve, reject) => {
    standin.once('exit', (code) =>
      reject(new Error(`the pachd stand-in exited (${code}); see build/dev/pachd-standin.log`)),
    );
    createInterface({ input: standin.stdout }).once('line', (line) => resolve(JSON.parse(line)));
  });
}

function cli(server, args, options = {}) {
  const env = { ...process.env, VAULT_ADDR: address, VAULT_TOKEN: rootToken, BAO_ADDR: address, BAO_TOKEN: rootToken };
  say(`+ ${path.basename(server)} ${options.shown ?? args.join(' ')}`);
  return execFileSync(server, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

async function main() {
  const server = findServer();
  if (server === undefined) {
    process.stderr.write(
      'dev: make dev needs a Vault or OpenBao server binary, and found neither `vault` nor `bao` on PATH.\n' +
        '     Install Vault (https://developer.hashicorp.com/vault/install) or OpenBao\n' +
        '     (https://openbao.org/docs/install/), or point VAULT_BIN at one: make dev VAULT_BIN=/path/to/vault\n',
    );
    process.exit(1);
  }
  for (const file of ['pachyderm', 'pachd-standin.js']) {
    if (!existsSync(path.join(buildDir, file)))
      fail(`build/${file} is missing; run make plugin build/pachd-standin.js`);
  }
  if (!['1', '2'].includes(generation)) fail(`PACHD_GENERATION must be 1 or 2, not ${generation}`);
  mkdirSync(devDir, { recursive: true });

  // A config file names the plugin directory without dev mode's auto-registration, which
  // would try to run every file in build/ as a plugin.
  const config = path.join(devDir, 'server.hcl');
  writeFileSync(config, `plugin_directory = "${buildDir}"\n`);
  const serverLog = path.join(devDir, 'server.log');
  say(`dev: starting ${server} in dev mode on ${address} (log: build/dev/server.log)`);
  const vault = spawn(
    server,
    [
      'server',
      '-dev',
      `-dev-root-token-id=${rootToken}`,
      `-dev-listen-address=127.0.0.1:${port}`,
      '-dev-no-store-token',
      `-config=${config}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(vault);
  const log = createWriteStream(serverLog);
  vault.stdout.pipe(log);
  vault.stderr.pipe(log);
  if (!(await waitForServer(vault))) fail(`the server did not come up on ${address}; see build/dev/server.log`);

  say(`dev: starting the pachd stand-in (generation ${generation}; log: build/dev/pachd-standin.log)`);
  const pachd = await startStandin();

  say('dev: registering and mounting the plugin');
  execFileSync(path.join(root, 'scripts/register'), [], {
    env: {
      ...process.env,
      VAULT_BIN: server,
      VAULT_ADDR: address,
      VAULT_TOKEN: rootToken,
      BAO_ADDR: address,
      BAO_TOKEN: rootToken,
      PLUGIN_DIR: buildDir,
    },
    stdio: 'inherit',
  });
  cli(
    server,
    ['write', 'pachyderm/config', `pachd_address=${pachd.pachd_address}`, `admin_token=${pachd.root_token}`],
    {
      shown: `write pachyderm/config pachd_address=${pachd.pachd_address} admin_token=<the stand-in's root token>`,
    },
  );
  cli(server, ['write', 'pachyderm/roles/ci', 'subject=robot:ci', 'ttl=15m', 'max_ttl=2h']);

  const name = path.basename(server);
  const user = 'user:alice@example.com';
  const loginUser = generation === '1' ? 'okta:alice@example.com' : user;
  const baoVariables = name === 'bao' ? ` BAO_ADDR=${address} BAO_TOKEN=${rootToken}` : '';
  const renewDoes = generation === '1' ? 'extends the token at pachd' : 'extends the lease, up to max_ttl';
  say(`
Vault is at ${address} (root token "${rootToken}"); pachd (stand-in, ${generation}.x) at ${pachd.pachd_address}.
Try, in another shell:

  export VAULT_ADDR=${address} VAULT_TOKEN=${rootToken}${baoVariables}
  ${name} write pachyderm/login username=${loginUser} ttl=30m     # the original plugin's flow
  ${name} read pachyderm/creds/ci                                    # a token for role ci (robot:ci)
  ${name} lease renew <lease_id>                                     # ${renewDoes}
  ${name} lease revoke <lease_id>                                    # revokes the token at pachd
  ${name} write pachyderm/revoke user_token=<user_token>             # revoke a token by value
  ${name} read pachyderm/version                                     # plugin and pachd versions
  ${name} read pachyderm/config                                      # the admin token is never shown
  curl -s ${pachd.control}/tokens                                     # what the stand-in holds

Ctrl-C stops the server, the stand-in and the plugin.`);

  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    vault.once('exit', resolve);
  });
  say('\ndev: stopping');
  await stopAll();
}

main().catch((error) => fail(error.message));
