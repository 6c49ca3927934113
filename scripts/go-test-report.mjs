// Reads `go test -json` on stdin. By default prints each test's result and the output of
// failed tests; with --counts prints "<passed> <failed>" (top-level tests and subtests alike,
// plus packages that failed outside any test, such as a build error).
import { createInterface } from 'node:readline';

const countsOnly = process.argv.includes('--counts');
const output = new Map();
const results = new Map();
const packageFailures = new Set();

for await (const line of createInterface({ input: process.stdin })) {
  let event;
  try {
    event = JSON.parse(line);
  } catch {
    if (!countsOnly) console.log(line);
    continue;
  }
  const key = `${event.Package} ${event.Test ?? ''}`;
  if (event.Action === 'output') {
    output.set(key, (output.get(key) ?? '') + event.Output);
  } else if (['pass', 'fail', 'skip'].includes(event.Action)) {
    if (event.Test) results.set(key, event.Action);
    else if (event.Action === 'fail') packageFailures.add(event.Package);
  }
}

let passed = 0;
let failed = 0;
for (const [key, action] of results) {
  if (action === 'pass') passed++;
  if (action === 'fail') failed++;
  if (!countsOnly) {
    console.log(`${action.toUpperCase().padEnd(4)} ${key.split(' ').slice(1).join(' ')}`);
    if (action === 'fail') console.log(output.get(key) ?? '');
  }
}
for (const pkg of packageFailures) {
  const testsFailed = [...results].some(([key, action]) => key.startsWith(`${pkg} `) && action === 'fail');
  if (!testsFailed) {
    failed++;
    if (!countsOnly) console.log(`FAIL package ${pkg}\n${output.get(`${pkg} `) ?? ''}`);
  }
}
if (countsOnly) console.log(`${passed} ${failed}`);
