// Jest transform: a .proto file becomes a module whose default export is its text,
// matching esbuild's `text` loader used for the bundles.
module.exports = {
  process(sourceText) {
    return { code: `module.exports = { __esModule: true, default: ${JSON.stringify(sourceText)} };` };
  },
};
