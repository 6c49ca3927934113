// Bundles the TypeScript entry points into single CommonJS files with esbuild.
//
//   node scripts/build.mjs [target ...]      targets: plugin, conformance-backend, pachd-standin
//
// plugin               build/pachyderm             the product: a Node script with a shebang
// conformance-backend  build/conformance-backend   a test-only backend for the conformance suite
// pachd-standin        build/pachd-standin.js      the pachd stand-in (test component)
//
// The shebang names the node that ran the build by absolute path (Vault execs the file directly
// and a plugin's PATH is whatever Vault's was); NODE_SHEBANG overrides it.
import { build } from 'esbuild';
import { chmodSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { compileProto } = createRequire(import.meta.url)('./proto-compile.cjs');

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

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shebang = `#!${process.env.NODE_SHEBANG || process.execPath}`;

const targets = {
  plugin: { entry: 'plugin/main.ts', out: 'build/pachyderm', executable: true },
  'conformance-backend': {
    entry: 'test/conformance/backend/main.ts',
    out: 'build/conformance-backend',
    executable: true,
  },
  'pachd-standin': { entry: 'test/pachd/main.ts', out: 'build/pachd-standin.js', executable: false },
};

const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(targets)) {
  const target = targets[name];
  if (!target) {
    console.error(`unknown build target ${name}; known: ${Object.keys(targets).join(', ')}`);
    process.exit(2);
  }
  const outfile = path.join(root, target.out);
  mkdirSync(path.dirname(outfile), { recursive: true });
  await build({
    entryPoints: [path.join(root, target.entry)],
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
    banner: target.executable ? { js: shebang } : {},
    logLevel: 'warning',
    // protobufjs probes optional modules through eval'd require; proto-loading.ts wires `long`.
    logOverride: { 'direct-eval': 'silent' },
  });
  if (target.executable) chmodSync(outfile, 0o755);
}
