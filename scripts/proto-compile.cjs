// Turns a .proto file into protobufjs JSON at build time (esbuild plugin) and under jest
// (test/jest-proto-transform.js), so the plugin never parses .proto text when it starts.
// Type references stay as written; plugin/grpc/proto-loading.ts resolves them once all
// files a process needs are combined.
const protobuf = require('protobufjs');

function compileProto(source) {
  const root = new protobuf.Root();
  const parsed = protobuf.parse(source, root, { keepCase: true });
  return {
    imports: [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])],
    nested: root.toJSON().nested ?? {},
  };
}

module.exports = { compileProto };
