// Builds the executables with esbuild (one CommonJS bundle each, .proto files compiled in).
//
//   node scripts/build.mjs [target ...]
//
// plugin               build/pachyderm              the product: a Node.js single executable (Node
//                                                   embedded), for Vault hosts without Node
// plugin-script        build/node/pachyderm         the same plugin as a Node script with a shebang,
//                                                   for hosts that have Node (small, fast to hash)
// conformance-backend  build/conformance-backend    a test-only backend for the conformance suite
// pachd-standin        build/pachd-standin.js       the pachd stand-in (test component)
//
// Each plugin build also updates build/SHA256SUMS, the digests `vault plugin register` needs.
// Shebangs name the node that ran the build by absolute path (Vault execs the file directly and
// a plugin's PATH is whatever Vault's was); NODE_SHEBANG overrides it.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { compileProto } = require('./proto-compile.cjs');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shebang = `#!${process.env.NODE_SHEBANG || process.execPath}`;
// The fuse Node.js looks for to know a single executable carries an application blob.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** .proto imports become compiled JSON, so nothing parses proto text at start-up. */
const protoPlugin = {
  name: 'proto',
  setup(builder) {
    builder.onLoad({ filter: /\.proto$/ }, async (args) => ({
      contents: JSON.stringify(compileProto(await readFile(args.path, 'utf8'))),
      loader: 'json',
    }));
  },
};

async function bundle(entry, outfile, banner) {
  mkdirSync(path.dirname(outfile), { recursive: true });
  await build({
    entryPoints: [path.join(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    plugins: [protoPlugin],
    // Identifiers stay, so stack traces in plugin logs remain readable.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    banner: banner ? { js: banner } : {},
    logLevel: 'warning',
    // protobufjs probes optional modules through eval'd require; proto-loading.ts wires `long`.
    logOverride: { 'direct-eval': 'silent' },
  });
}

async function executableScript(entry, out) {
  const outfile = path.join(root, out);
  await bundle(entry, outfile, shebang);
  chmodSync(outfile, 0o755);
  return outfile;
}

/**
 * A copy of the running node with the bundle injected as its application (Node's single
 * executable applications), with V8's code cache for the bundle so it starts compiled.
 */
async function singleExecutable(entry, out) {
  const work = path.join(root, 'build/.sea');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const main = path.join(work, 'main.js');
  await bundle(entry, main);
  const blob = path.join(work, 'sea-prep.blob');
  const config = path.join(work, 'sea-config.json');
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });

  const outfile = path.join(root, out);
  const staging = `${outfile}.partial`;
  copyFileSync(process.execPath, staging);
  chmodSync(staging, 0o755);
  // Vault hashes the whole file before every start: node's symbols only make that slower.
  try {
    execFileSync('strip', ['--strip-all', staging], { stdio: 'ignore' });
  } catch {
    console.error('build: strip is not available; the executable keeps node\'s symbols (larger, slower to hash)');
  }
  const { inject } = require('postject');
  await inject(staging, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE, overwrite: true });
  renameSync(staging, outfile);
  rmSync(work, { recursive: true, force: true });
  return outfile;
}

/** `sha256sum` format, one line per plugin executable present. */
function writeChecksums() {
  const lines = [];
  for (const relative of ['pachyderm', 'node/pachyderm']) {
    const file = path.join(root, 'build', relative);
    if (!existsSync(file)) continue;
    lines.push(`${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${relative}`);
  }
  writeFileSync(path.join(root, 'build/SHA256SUMS'), lines.join('\n') + '\n');
}

const targets = {
  plugin: async () => {
    await singleExecutable('plugin/main.ts', 'build/pachyderm');
    writeChecksums();
  },
  'plugin-script': async () => {
    await executableScript('plugin/main.ts', 'build/node/pachyderm');
    writeChecksums();
  },
  'conformance-backend': () => executableScript('test/conformance/backend/main.ts', 'build/conformance-backend'),
  'pachd-standin': () => bundle('test/pachd/main.ts', path.join(root, 'build/pachd-standin.js')),
};

const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(targets)) {
  const target = targets[name];
  if (!target) {
    console.error(`unknown build target ${name}; known: ${Object.keys(targets).join(', ')}`);
    process.exit(2);
  }
  await target();
}
