// .proto files are imported as their source text: esbuild's text loader in the bundle,
// test/jest-proto-transform.js under jest.
declare module '*.proto' {
  const source: string;
  export default source;
}
