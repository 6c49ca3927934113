// Jest transform: a .proto file becomes its compiled protobufjs JSON, exactly as the esbuild
// plugin in scripts/build.mjs makes it for the bundles.
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { compileProto } = require('../scripts/proto-compile.cjs');

// A cached transform must be redone when the compiler or this file changes, not only the .proto.
const toolchain = [path.join(__dirname, '../scripts/proto-compile.cjs'), __filename]
  .map((file) => readFileSync(file, 'utf8'))
  .join('\0');

module.exports = {
  process(sourceText) {
    return { code: `module.exports = { __esModule: true, default: ${JSON.stringify(compileProto(sourceText))} };` };
  },
  getCacheKey(sourceText) {
    return createHash('sha256').update(toolchain).update('\0').update(sourceText).digest('hex');
  },
};
