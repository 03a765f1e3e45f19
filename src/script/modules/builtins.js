// Node's built-ins as the embedded lane offers them. Pure, cheap and safe
// ones work; every other one loads and throws on use, naming itself, so a
// file that needs `fs` only for an API route still serves its websockets.
// Runs as a classic script after the prelude, with the host object at
// globalThis.__sockscope. Also gives the `process` and `Buffer` globals.
(() => {
  const host = globalThis.__sockscope;
  const made = new Map();

  const unavailable = (module) =>
    new Proxy(
      {},
      {
        get(_, property) {
          if (typeof property === 'symbol' || property === 'then' || property === '__esModule') return undefined;
          return function unavailableInSandbox() {
            const error = new Error(
              `${module}.${property} is not available in sockscope's embedded lane: handlers have no file, ` +
                `process or network access. Run the project with --run to use Node's '${module}'.`,
            );
            error.code = 'ERR_SOCKSCOPE_SANDBOX';
            throw error;
          };
        },
      },
    );

  // path (POSIX), as Node's path.posix.
  const normalizeParts = (parts, absolute) => {
    const out = [];
    for (const part of parts) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length && out[out.length - 1] !== '..') out.pop();
        else if (!absolute) out.push('..');
      } else out.push(part);
    }
    return out;
  };
  const path = {
    sep: '/',
    delimiter: ':',
    isAbsolute: (p) => String(p).startsWith('/'),
    normalize(p) {
      p = String(p);
      if (p === '') return '.';
      const absolute = p.startsWith('/');
      const trailing = p.endsWith('/');
      let out = normalizeParts(p.split('/'), absolute).join('/');
      if (out === '' && !absolute) out = '.';
      if (out !== '' && trailing) out += '/';
      return (absolute ? '/' : '') + out;
    },
    join: (...parts) => {
      const joined = parts.filter((p) => String(p) !== '').join('/');
      return joined === '' ? '.' : path.normalize(joined);
    },
    resolve(...parts) {
      let resolved = '';
      for (let i = parts.length - 1; i >= 0 && !resolved.startsWith('/'); i--) {
        if (String(parts[i]) !== '') resolved = `${parts[i]}/${resolved}`;
      }
      if (!resolved.startsWith('/')) resolved = `/${resolved}`;
      const out = `/${normalizeParts(resolved.split('/'), true).join('/')}`;
      return out;
    },
    relative(from, to) {
      const a = path.resolve(from).split('/').filter(Boolean);
      const b = path.resolve(to).split('/').filter(Boolean);
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
    },
    dirname(p) {
      p = String(p);
      const trimmed = p.length > 1 ? p.replace(/\/+$/, '') : p;
      const at = trimmed.lastIndexOf('/');
      if (at < 0) return '.';
      if (at === 0) return '/';
      return trimmed.slice(0, at);
    },
    basename(p, ext) {
      p = String(p);
      const trimmed = p.length > 1 ? p.replace(/\/+$/, '') : p;
      let base = trimmed.slice(trimmed.lastIndexOf('/') + 1);
      if (ext && base.endsWith(ext) && base !== ext) base = base.slice(0, -ext.length);
      return base;
    },
    extname(p) {
      const base = path.basename(p);
      const at = base.lastIndexOf('.');
      return at <= 0 ? '' : base.slice(at);
    },
    parse(p) {
      const base = path.basename(p);
      const ext = path.extname(p);
      const dir = path.dirname(p);
      return { root: String(p).startsWith('/') ? '/' : '', dir: dir === '.' && !String(p).includes('/') ? '' : dir, base, ext, name: ext ? base.slice(0, -ext.length) : base };
    },
    format: (o) => {
      const dir = o.dir || o.root || '';
      const base = o.base || `${o.name || ''}${o.ext || ''}`;
      return dir ? (dir.endsWith('/') ? dir + base : `${dir}/${base}`) : base;
    },
    toNamespacedPath: (p) => p,
  };
  path.posix = path;

  // Buffer, as far as handlers use it: encodings in and out.
  const HEX = '0123456789abcdef';
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const toBase64 = (bytes, url) => {
    let out = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
      out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
      out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : url ? '' : '=';
      out += i + 2 < bytes.length ? B64[n & 63] : url ? '' : '=';
    }
    return url ? out.replace(/\+/g, '-').replace(/\//g, '_') : out;
  };
  const fromBase64 = (text) => {
    const clean = text.replace(/-/g, '+').replace(/_/g, '/').replace(/[^A-Za-z0-9+/]/g, '');
    const out = [];
    for (let i = 0; i < clean.length; i += 4) {
      const chunk = [0, 1, 2, 3].map((k) => (i + k < clean.length ? B64.indexOf(clean[i + k]) : -1));
      const n = (chunk[0] << 18) | (chunk[1] << 12) | (Math.max(chunk[2], 0) << 6) | Math.max(chunk[3], 0);
      out.push((n >> 16) & 255);
      if (chunk[2] >= 0) out.push((n >> 8) & 255);
      if (chunk[3] >= 0) out.push(n & 255);
    }
    return out;
  };
  const encodingOf = (encoding) => {
    const e = String(encoding || 'utf8').toLowerCase();
    if (e === 'utf-8') return 'utf8';
    if (e === 'binary') return 'latin1';
    if (['utf8', 'hex', 'base64', 'base64url', 'latin1', 'ascii'].includes(e)) return e;
    throw new TypeError(`Unknown encoding: ${encoding}`);
  };
  class Buffer extends Uint8Array {
    static from(value, encodingOrOffset, length) {
      if (typeof value === 'string') {
        const encoding = encodingOf(encodingOrOffset);
        if (encoding === 'utf8') return new Buffer(host.utf8Encode(value));
        if (encoding === 'hex') {
          const bytes = [];
          for (let i = 0; i + 1 < value.length; i += 2) {
            const byte = parseInt(value.slice(i, i + 2), 16);
            if (Number.isNaN(byte)) break;
            bytes.push(byte);
          }
          return new Buffer(bytes);
        }
        if (encoding === 'base64' || encoding === 'base64url') return new Buffer(fromBase64(value));
        return new Buffer(Array.from(value, (c) => c.charCodeAt(0) & 255));
      }
      if (value instanceof ArrayBuffer) return new Buffer(value, encodingOrOffset ?? 0, length ?? value.byteLength - (encodingOrOffset ?? 0));
      if (ArrayBuffer.isView(value)) return new Buffer(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      if (Array.isArray(value)) return new Buffer(value);
      if (value && value.type === 'Buffer' && Array.isArray(value.data)) return new Buffer(value.data);
      throw new TypeError('The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object.');
    }
    static alloc(size, fill = 0) {
      return new Buffer(size).fill(typeof fill === 'number' ? fill : 0);
    }
    static allocUnsafe(size) {
      return new Buffer(size);
    }
    static isBuffer(value) {
      return value instanceof Buffer;
    }
    static isEncoding(encoding) {
      try {
        encodingOf(encoding);
        return true;
      } catch (_) {
        return false;
      }
    }
    static byteLength(value, encoding) {
      return typeof value === 'string' ? Buffer.from(value, encoding).length : value.byteLength;
    }
    static concat(list, total) {
      const length = total ?? list.reduce((sum, b) => sum + b.length, 0);
      const out = Buffer.alloc(length);
      let at = 0;
      for (const b of list) {
        if (at >= length) break;
        out.set(b.subarray(0, length - at), at);
        at += b.length;
      }
      return out;
    }
    toString(encoding, start = 0, end = this.length) {
      const bytes = this.subarray(start, end);
      switch (encodingOf(encoding)) {
        case 'utf8':
          return host.utf8Decode(new Uint8Array(bytes));
        case 'hex':
          return Array.from(bytes, (b) => HEX[b >> 4] + HEX[b & 15]).join('');
        case 'base64':
          return toBase64(bytes, false);
        case 'base64url':
          return toBase64(bytes, true);
        case 'ascii':
          return Array.from(bytes, (b) => String.fromCharCode(b & 127)).join('');
        default:
          return Array.from(bytes, (b) => String.fromCharCode(b)).join('');
      }
    }
    toJSON() {
      return { type: 'Buffer', data: Array.from(this) };
    }
    equals(other) {
      return this.length === other.length && this.every((b, i) => b === other[i]);
    }
    slice(start, end) {
      return this.subarray(start, end);
    }
  }

  // events: EventEmitter.
  class EventEmitter {
    #listeners = new Map();
    on(name, listener) {
      const list = this.#listeners.get(name) ?? [];
      list.push(listener);
      this.#listeners.set(name, list);
      return this;
    }
    addListener(name, listener) {
      return this.on(name, listener);
    }
    prependListener(name, listener) {
      this.#listeners.set(name, [listener, ...(this.#listeners.get(name) ?? [])]);
      return this;
    }
    once(name, listener) {
      const once = (...args) => {
        this.off(name, once);
        listener.apply(this, args);
      };
      once.listener = listener;
      return this.on(name, once);
    }
    off(name, listener) {
      const list = (this.#listeners.get(name) ?? []).filter((l) => l !== listener && l.listener !== listener);
      this.#listeners.set(name, list);
      return this;
    }
    removeListener(name, listener) {
      return this.off(name, listener);
    }
    removeAllListeners(name) {
      if (name === undefined) this.#listeners.clear();
      else this.#listeners.delete(name);
      return this;
    }
    emit(name, ...args) {
      const list = [...(this.#listeners.get(name) ?? [])];
      if (name === 'error' && list.length === 0) throw args[0] instanceof Error ? args[0] : new Error(`Unhandled error. (${args[0]})`);
      for (const listener of list) listener.apply(this, args);
      return list.length > 0;
    }
    listeners(name) {
      return (this.#listeners.get(name) ?? []).map((l) => l.listener ?? l);
    }
    listenerCount(name) {
      return (this.#listeners.get(name) ?? []).length;
    }
    eventNames() {
      return [...this.#listeners.keys()].filter((name) => this.#listeners.get(name).length > 0);
    }
    setMaxListeners() {
      return this;
    }
    getMaxListeners() {
      return 10;
    }
  }
  EventEmitter.EventEmitter = EventEmitter;
  EventEmitter.once = (emitter, name) => new Promise((resolve) => emitter.once(name, (...args) => resolve(args)));

  // util.
  const inspect = (value) => {
    if (typeof value === 'string') return `'${value}'`;
    if (typeof value === 'function') return `[Function: ${value.name || '(anonymous)'}]`;
    if (value instanceof Error) return value.stack ? `${value.name}: ${value.message}\n${value.stack}` : String(value);
    try {
      return JSON.stringify(value) ?? String(value);
    } catch (_) {
      return String(value);
    }
  };
  const format = (first, ...args) => {
    if (typeof first !== 'string') return [first, ...args].map(inspect).join(' ');
    let i = 0;
    const out = first.replace(/%[sdifjoO%]/g, (token) => {
      if (token === '%%') return '%';
      if (i >= args.length) return token;
      const arg = args[i++];
      switch (token) {
        case '%s':
          return typeof arg === 'string' ? arg : inspect(arg);
        case '%d':
        case '%i':
          return String(token === '%i' ? parseInt(arg, 10) : Number(arg));
        case '%f':
          return String(parseFloat(arg));
        default:
          return inspect(arg);
      }
    });
    return [out, ...args.slice(i).map((a) => (typeof a === 'string' ? a : inspect(a)))].join(' ');
  };
  const deepEqual = (a, b) => {
    if (Object.is(a, b)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => deepEqual(a[k], b[k]));
  };
  const util = {
    format,
    inspect,
    promisify: (fn) => (...args) => new Promise((resolve, reject) => fn(...args, (error, value) => (error ? reject(error) : resolve(value)))),
    callbackify: (fn) => (...args) => {
      const callback = args.pop();
      fn(...args).then((value) => callback(null, value), (error) => callback(error));
    },
    deprecate(fn, message) {
      let warned = false;
      return function deprecated(...args) {
        if (!warned) {
          warned = true;
          console.warn(`DeprecationWarning: ${message}`);
        }
        return fn.apply(this, args);
      };
    },
    inherits(child, parent) {
      Object.setPrototypeOf(child.prototype, parent.prototype);
      Object.setPrototypeOf(child, parent);
    },
    isDeepStrictEqual: deepEqual,
    types: {
      isUint8Array: (v) => v instanceof Uint8Array,
      isPromise: (v) => v instanceof Promise,
      isDate: (v) => v instanceof Date,
      isRegExp: (v) => v instanceof RegExp,
    },
    TextEncoder: globalThis.TextEncoder,
    TextDecoder: globalThis.TextDecoder,
  };

  // crypto: randomness only.
  const randomBytes = (size, callback) => {
    const bytes = new Buffer(host.randomBytes(size));
    if (typeof callback === 'function') {
      Promise.resolve().then(() => callback(null, bytes));
      return undefined;
    }
    return bytes;
  };
  const getRandomValues = (array) => {
    const bytes = host.randomBytes(array.byteLength);
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
    return array;
  };
  const webcrypto = { getRandomValues, randomUUID: () => host.randomUuid() };
  const sandboxedCrypto = unavailable('crypto');
  const crypto = new Proxy(
    {
      randomUUID: () => host.randomUuid(),
      randomBytes,
      getRandomValues,
      randomFillSync: (buffer, offset = 0, size = buffer.byteLength - offset) => {
        getRandomValues(new Uint8Array(buffer.buffer ?? buffer, (buffer.byteOffset ?? 0) + offset, size));
        return buffer;
      },
      webcrypto,
      randomInt(min, max) {
        if (max === undefined) [min, max] = [0, min];
        const range = max - min;
        const [a, b, c, d, e, f] = host.randomBytes(6);
        const n = ((a * 2 ** 40) + (b * 2 ** 32) + ((c << 24) >>> 0) + (d << 16) + (e << 8) + f) / 2 ** 48;
        return min + Math.floor(n * range);
      },
    },
    { get: (target, property) => (property in target || typeof property === 'symbol' ? target[property] : sandboxedCrypto[property]) },
  );

  const querystring = {
    escape: encodeURIComponent,
    unescape: decodeURIComponent,
    stringify: (object, sep = '&', eq = '=') =>
      Object.entries(object ?? {})
        .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((one) => `${encodeURIComponent(k)}${eq}${encodeURIComponent(one ?? '')}`))
        .join(sep),
    parse(text, sep = '&', eq = '=') {
      const out = {};
      for (const pair of String(text).split(sep)) {
        if (!pair) continue;
        const at = pair.indexOf(eq);
        const key = decodeURIComponent((at < 0 ? pair : pair.slice(0, at)).replace(/\+/g, ' '));
        const value = at < 0 ? '' : decodeURIComponent(pair.slice(at + 1).replace(/\+/g, ' '));
        if (key in out) out[key] = [].concat(out[key], value);
        else out[key] = value;
      }
      return out;
    },
  };
  querystring.encode = querystring.stringify;
  querystring.decode = querystring.parse;

  const noop = function () {
    return process;
  };
  const process = {
    env: {},
    argv: ['node', 'sockscope'],
    execArgv: [],
    platform: 'linux',
    version: 'v20.0.0',
    versions: { node: '20.0.0' },
    pid: 1,
    cwd: () => '/',
    nextTick: (fn, ...args) => {
      Promise.resolve().then(() => fn(...args));
    },
    hrtime: Object.assign((previous) => {
      const now = Date.now();
      const time = [Math.floor(now / 1000), (now % 1000) * 1e6];
      return previous ? [time[0] - previous[0], time[1] - previous[1]] : time;
    }, { bigint: () => BigInt(Date.now()) * 1000000n }),
    memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
    exit() {
      throw new Error('process.exit is not available in sockscope\'s embedded lane: a handler cannot stop the server.');
    },
    on: noop,
    once: noop,
    off: noop,
    emit: () => false,
  };

  const implemented = {
    path,
    'path/posix': path,
    buffer: { Buffer, constants: { MAX_LENGTH: 2 ** 32 }, kMaxLength: 2 ** 32, atob: globalThis.atob, btoa: globalThis.btoa },
    events: EventEmitter,
    util,
    crypto,
    querystring,
    process,
  };

  const builtin = (module) => {
    if (!made.has(module)) made.set(module, implemented[module] ?? unavailable(module));
    return made.get(module);
  };
  Object.defineProperty(globalThis, Symbol.for('sockscope.builtins'), { value: builtin });
  for (const [name, value] of [['process', process], ['Buffer', Buffer]]) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  }
})();
