#!/usr/bin/env node
// Where a CPU profile of the plugin spent its busy time, by source: each sample of the bundle is
// mapped through the source map `node scripts/build.mjs profile` writes beside the profiling
// executable, and counted under its npm package or plugin/ layer; Node's own code by module;
// V8's pseudo-frames ("(program)", "(garbage collector)") as they are. Idle time is left out.
//
//   node scripts/profile-summary.mjs build/profiles/CPU.*.cpuprofile [--functions N]
//
// For docs/performance.md; nothing here ships.

import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const functionsAt = args.indexOf('--functions');
const functionCount = functionsAt === -1 ? 25 : Number(args[functionsAt + 1]);
const files = args.filter((arg, index) => !arg.startsWith('--') && index !== functionsAt + 1);
if (files.length === 0) {
  console.error('usage: node scripts/profile-summary.mjs <profile.cpuprofile>... [--functions N]');
  process.exit(2);
}

const sourceMap = new SourceMap(JSON.parse(readFileSync(path.join(root, 'build/profile/bundle.js.map'), 'utf8')));

/** The bucket and the function name of one profile node. */
function place(callFrame) {
  const { url, functionName, lineNumber, columnNumber } = callFrame;
  if (url.startsWith('file:') && url.endsWith('main.js')) {
    const source = sourceMap.findEntry(lineNumber, columnNumber)?.originalSource ?? '';
    const npmPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1];
    if (npmPackage !== undefined) return { bucket: `package ${npmPackage}`, name: `${npmPackage} ${functionName}` };
    const file = source.replace(/.*?\/plugin\//, 'plugin/');
    const layer = /^plugin\/[^/]+/.exec(file)?.[0] ?? file;
    return { bucket: layer || 'bundle, unmapped', name: `${file} ${functionName}` };
  }
  if (url.startsWith('node:')) {
    const module = url.slice('node:'.length).split('/').slice(0, 2).join('/');
    return { bucket: `node ${module}`, name: `node:${module} ${functionName}` };
  }
  if (functionName.startsWith('(')) return { bucket: functionName, name: functionName };
  return { bucket: 'native code', name: functionName || '(anonymous native)' };
}

const buckets = new Map();
const functions = new Map();
let busyMicros = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id, index) => {
    const node = nodes.get(id);
    if (node === undefined || node.callFrame.functionName === '(idle)') return;
    const micros = profile.timeDeltas[index] ?? 0;
    const { bucket, name } = place(node.callFrame);
    busyMicros += micros;
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + micros);
    functions.set(name, (functions.get(name) ?? 0) + micros);
  });
}

const share = (micros) => `${((100 * micros) / busyMicros).toFixed(1).padStart(5)}%`;
const largest = (table, count) => [...table].sort((a, b) => b[1] - a[1]).slice(0, count);
console.log(`busy ${(busyMicros / 1000).toFixed(0)} ms in ${files.length} profile(s)\n`);
for (const [bucket, micros] of largest(buckets, 40)) console.log(`${share(micros)}  ${bucket}`);
console.log('\nfunctions (self time)');
for (const [name, micros] of largest(functions, functionCount)) console.log(`${share(micros)}  ${name}`);
