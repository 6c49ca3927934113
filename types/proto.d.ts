// A .proto import is the file compiled to protobufjs JSON (scripts/proto-compile.cjs), by an
// esbuild plugin in the bundles and by test/jest-proto-transform.js under jest.
declare module '*.proto' {
  const compiled: import('../plugin/goplugin/proto-loading').CompiledProto;
  export default compiled;
}
