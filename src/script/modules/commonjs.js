// `require` as Node gives it to CommonJS files: resolved by the host (the
// same rules and project bounds as `import`), run once, cached, circular
// requires seeing the partial exports. Runs as a classic script after the
// prelude, with the host object at globalThis.__sockscope.
(() => {
  const host = globalThis.__sockscope;
  const builtin = globalThis[Symbol.for('sockscope.builtins')];
  const cache = new Map();

  const run = (name) => {
    const cached = cache.get(name);
    if (cached) return cached.exports;
    const filename = host.moduleFile(name);
    const module = { id: name, filename, loaded: false, exports: {}, children: [], paths: [] };
    cache.set(name, module);
    const body = host.commonJsBody(name);
    const dirname = filename.slice(0, filename.lastIndexOf('/')) || '/';
    try {
      body.call(module.exports, module.exports, makeRequire(name), module, filename, dirname);
    } catch (error) {
      cache.delete(name);
      throw error;
    }
    module.loaded = true;
    return module.exports;
  };

  const load = (name, kind) => {
    switch (kind) {
      case 'builtin':
        return builtin(name);
      case 'cjs':
        return run(name);
      case 'json': {
        const cached = cache.get(name);
        if (cached) return cached.exports;
        const exports = JSON.parse(host.moduleText(name));
        cache.set(name, { exports });
        return exports;
      }
      default:
        // An ES module (or the SDK): require(esm) gives its namespace, as Node 22 does.
        return host.importNamespace(name);
    }
  };

  function makeRequire(from) {
    const require = (specifier) => {
      const [name, kind] = host.resolveModule(String(specifier), from);
      return load(name, kind);
    };
    require.resolve = (specifier) => {
      const [name, kind] = host.resolveModule(String(specifier), from);
      return kind === 'builtin' || kind === 'sdk' ? name : host.moduleFile(name);
    };
    require.cache = {};
    return require;
  }

  Object.defineProperty(globalThis, Symbol.for('sockscope.require'), { value: run });
})();
