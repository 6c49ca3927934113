// A .proto import is the file compiled to protobufjs JSON (scripts/proto-compile.cjs), by an
// esbuild plugin in the bundles and by test/jest-proto-transform.js under jest.
// A wildcard module cannot import by relative path, so the type is named inline.
declare module '*.proto' {
  // eslint-disable-next-line @typescript-eslint/consistent-type-imports
  const compiled: import('../plugin/grpc/proto-loading').CompiledProto;
  export default compiled;
}
