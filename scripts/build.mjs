// Builds the executables with esbuild (one CommonJS bundle each, .proto files compiled in).
//
//   node scripts/build.mjs [target ...]
//
// plugin               build/pachyderm              the product: a Node.js single executable (the
//                      build/linux_arm64/pachyderm  pinned Node runtime embedded, package.json's
//                                                   seaRuntime), linux/amd64 and linux/arm64
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
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeRuntime } from './node-runtime.mjs';

const require = createRequire(import.meta.url);
const { compileProto } = require('./proto-compile.cjs');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shebang = `#!${process.env.NODE_SHEBANG || process.execPath}`;
// The fuse Node.js looks for to know a single executable carries an application blob.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// V8 options baked into the single executables (Vault gives a plugin no command line), chosen
// with speed and peak RSS both in view from `make bench`'s table of variants (docs/performance.md):
// --no-concurrent-recompilation: Maglev and TurboFan compile on the main thread. Their zones,
// allocated on a compiler thread, stayed in that thread's malloc arena: ~25 MiB of the peak for
// nothing. On the main thread a hot function's compile (a few ms, during warm-up) delays the
// requests queued behind it, once; every request after runs optimized code;
// --max-semi-space-size=2 (MiB) keeps the young generation small: the plugin's garbage is
// short-lived and small, and V8's default lets it grow to tens of MiB;
// --max-old-space-size=1024 (MiB): given explicitly, V8 grows the old generation in smaller steps
// under load (~30 MiB less peak after thousands of requests). A limit, too, but far above the
// engine's working set (a few MiB) and Vault's largest request (32 MiB by default).
// Until issue 17 it was --max-opt=1 (no optimizing tier) and --max-semi-space-size=1: a higher
// peak under the bench's full load, at about half the throughput.
const SEA_EXEC_ARGV = ['--max-semi-space-size=2', '--no-concurrent-recompilation', '--max-old-space-size=1024'];

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

async function bundle(entry, outfile, banner, target = 'node20', sourcemap = false) {
  mkdirSync(path.dirname(outfile), { recursive: true });
  await build({
    entryPoints: [path.join(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target,
    format: 'cjs',
    plugins: [protoPlugin],
    // Identifiers stay, so stack traces in plugin logs remain readable.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    // Adds only a trailing comment to the code: a bundle built with a map is the same code as one without.
    sourcemap: sourcemap ? 'external' : false,
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

/** Where each architecture's single executable goes; linux/amd64 keeps the historical path. */
const SEA_OUTPUTS = { x64: 'build/pachyderm', arm64: 'build/linux_arm64/pachyderm' };

/** Strippers that understand each architecture's ELF, tried in order (binutils' are per target). */
const STRIPPERS = {
  x64: ['strip', 'x86_64-linux-gnu-strip', 'llvm-strip'],
  arm64: ['aarch64-linux-gnu-strip', 'llvm-strip', ...(process.arch === 'arm64' ? ['strip'] : [])],
};

/** Vault hashes the whole file before every start: node's symbols only make that slower. */
function strip(file, arch) {
  for (const tool of STRIPPERS[arch]) {
    try {
      execFileSync(tool, ['--strip-all', file], { stdio: 'ignore' });
      return;
    } catch {
      // not installed, or does not know this architecture: try the next one
    }
  }
  console.error(
    `build: none of ${STRIPPERS[arch].join(', ')} could strip the ${arch} executable; it keeps node's symbols ` +
      `(larger, slower to hash)`,
  );
}

/**
 * The pinned Node runtime (scripts/node-runtime.mjs) with the bundle injected as its application
 * (Node's single executable applications), for every architecture in SEA_OUTPUTS.
 *
 * The blob is made by the pinned runtime, not by the Node running this build, so blob and
 * executable always come from one release. V8's code cache for the bundle (`useCodeCache`) is
 * architecture-specific and can only be made by a runtime that runs here: the build host's own
 * architecture gets it; the other one gets the plain bundle, compiled when it starts.
 */
async function singleExecutables(entry, execArgv = SEA_EXEC_ARGV, outputs = SEA_OUTPUTS, workName = '.sea') {
  const work = path.join(root, 'build', workName);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const main = path.join(work, 'main.js');
  await bundle(entry, main, undefined, 'node24');
  if (!SEA_OUTPUTS[process.arch])
    throw new Error(`the single executables are built on x64 or arm64 hosts, not ${process.arch}`);
  const hostRuntime = nodeRuntime(process.arch);
  const { inject } = require('postject');
  const written = [];
  for (const [arch, out] of Object.entries(outputs)) {
    const native = arch === process.arch;
    const blob = path.join(work, `${arch}.blob`);
    const config = path.join(work, `${arch}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        main,
        output: blob,
        disableExperimentalSEAWarning: true,
        useCodeCache: native,
        execArgv,
      }),
    );
    // V8 accepts a code cache only from a process whose flags match the one that loads it.
    const flags = native ? execArgv : [];
    execFileSync(hostRuntime, [...flags, '--experimental-sea-config', config], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });

    const outfile = path.join(root, out);
    mkdirSync(path.dirname(outfile), { recursive: true });
    const staging = `${outfile}.partial`;
    copyFileSync(nodeRuntime(arch), staging);
    chmodSync(staging, 0o755);
    strip(staging, arch);
    await inject(staging, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE, overwrite: true });
    renameSync(staging, outfile);
    written.push(outfile);
  }
  rmSync(work, { recursive: true, force: true });
  return written;
}

/** `sha256sum` format, one line per plugin executable present. */
function writeChecksums() {
  const lines = [];
  for (const relative of ['pachyderm', 'linux_arm64/pachyderm', 'node/pachyderm']) {
    const file = path.join(root, 'build', relative);
    if (!existsSync(file)) continue;
    lines.push(`${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${relative}`);
  }
  writeFileSync(path.join(root, 'build/SHA256SUMS'), lines.join('\n') + '\n');
}

/**
 * V8 option sets `make bench` compares (`-variants build/bench-variants`): the same bundle and
 * runtime as the product, each with its own execArgv and a code cache made under it. Host
 * architecture only; nothing here ships.
 */
const BENCH_VARIANTS = {
  shipped: SEA_EXEC_ARGV,
  'no-options': [],
  'lite-mode': ['--lite-mode'],
  'max-opt1-semi1': ['--max-opt=1', '--max-semi-space-size=1'],
  'max-opt2-semi1': ['--max-opt=2', '--max-semi-space-size=1'],
  'max-opt2-semi2-nocr-old1024': [
    '--max-opt=2',
    '--max-semi-space-size=2',
    '--no-concurrent-recompilation',
    '--max-old-space-size=1024',
  ],
  semi1: ['--max-semi-space-size=1'],
  nocr: ['--no-concurrent-recompilation'],
  'semi2-nocr': ['--max-semi-space-size=2', '--no-concurrent-recompilation'],
  'semi1-nocr-old1024': ['--max-semi-space-size=1', '--no-concurrent-recompilation', '--max-old-space-size=1024'],
  'semi2-nocr-memory-saver': ['--max-semi-space-size=2', '--no-concurrent-recompilation', '--memory-saver-mode'],
  'semi2-old1024': ['--max-semi-space-size=2', '--max-old-space-size=1024'],
  'max-opt2-semi2-old1024': ['--max-opt=2', '--max-semi-space-size=2', '--max-old-space-size=1024'],
  'semi2-old1024-pool2': ['--max-semi-space-size=2', '--max-old-space-size=1024', '--v8-pool-size=2'],
};

/**
 * `BENCH_VARIANTS=a,b` builds only those named, next to the variants already built;
 * `BENCH_VARIANTS_DIR` puts them elsewhere than build/bench-variants.
 */
async function benchVariants() {
  const dir = process.env.BENCH_VARIANTS_DIR || 'build/bench-variants';
  const only = process.env.BENCH_VARIANTS ? process.env.BENCH_VARIANTS.split(',') : undefined;
  if (only === undefined) rmSync(path.join(root, dir), { recursive: true, force: true });
  for (const name of only ?? Object.keys(BENCH_VARIANTS)) {
    const execArgv = BENCH_VARIANTS[name];
    if (!execArgv) throw new Error(`unknown bench variant ${name}; known: ${Object.keys(BENCH_VARIANTS).join(', ')}`);
    const out = `${dir}/${name}`;
    rmSync(path.join(root, out), { recursive: true, force: true });
    await singleExecutables('plugin/main.ts', execArgv, { [process.arch]: `${out}/pachyderm` }, `.sea-${name}`);
    writeFileSync(path.join(root, out, 'exec-argv.json'), JSON.stringify(execArgv) + '\n');
  }
}

const targets = {
  plugin: async () => {
    await singleExecutables('plugin/main.ts');
    writeChecksums();
  },
  'plugin-script': async () => {
    await executableScript('plugin/main.ts', 'build/node/pachyderm');
    writeChecksums();
  },
  'bench-variants': benchVariants,
  // The shipped executable with V8's CPU profiler on: a profile per process in build/profiles
  // when it exits (Vault stops it at unmount or shutdown). For docs/performance.md, never shipped.
  profile: async () => {
    await singleExecutables(
      'plugin/main.ts',
      [
        ...SEA_EXEC_ARGV,
        '--cpu-prof',
        `--cpu-prof-dir=${path.join(root, 'build/profiles')}`,
        '--cpu-prof-interval=500',
      ],
      { [process.arch]: 'build/profile/pachyderm' },
      '.sea-profile',
    );
    // The same bundle again, with its source map, so that scripts/profile-summary.mjs can say which
    // file and package each sample of a profile ran in.
    await bundle('plugin/main.ts', path.join(root, 'build/profile/bundle.js'), undefined, 'node24', true);
  },
  'conformance-backend': () => executableScript('test/conformance/backend/main.ts', 'build/conformance-backend'),
  'pachd-standin': () => bundle('test/pachd/main.ts', path.join(root, 'build/pachd-standin.js')),
};

const wanted = process.argv.slice(2);
// Named only: the bench's variants and the profiling build are not part of a build.
const byDefault = Object.keys(targets).filter((name) => name !== 'bench-variants' && name !== 'profile');
for (const name of wanted.length > 0 ? wanted : byDefault) {
  const target = targets[name];
  if (!target) {
    console.error(`unknown build target ${name}; known: ${Object.keys(targets).join(', ')}`);
    process.exit(2);
  }
  await target();
}
