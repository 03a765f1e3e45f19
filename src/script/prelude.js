// Globals every script gets before its module runs: console, TextEncoder and
// TextDecoder (UTF-8 only). Runs as a classic script with the host object at
// globalThis.__sockscope; the SDK module removes that global afterwards.
(() => {
  const host = globalThis.__sockscope;

  const format = (value) => {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.stack ? `${value.name}: ${value.message}\n${value.stack}` : `${value.name}: ${value.message}`;
    if (value instanceof Uint8Array) return `Uint8Array(${value.length}) [${Array.from(value.subarray(0, 32)).join(', ')}${value.length > 32 ? ', …' : ''}]`;
    if (typeof value === 'object' && value !== null) {
      try {
        return JSON.stringify(value);
      } catch (_) {
        return String(value);
      }
    }
    return String(value);
  };
  const logger = (level) => (...args) => host.log(level, args.map(format).join(' '));
  globalThis.console = {
    debug: logger('debug'),
    log: logger('info'),
    info: logger('info'),
    warn: logger('warn'),
    error: logger('error'),
  };

  globalThis.TextEncoder = class TextEncoder {
    get encoding() {
      return 'utf-8';
    }
    encode(text = '') {
      return host.utf8Encode(String(text));
    }
  };
  globalThis.TextDecoder = class TextDecoder {
    constructor(label = 'utf-8') {
      if (!/^utf-?8$/i.test(label)) throw new RangeError(`TextDecoder: only utf-8 is supported, not "${label}"`);
    }
    get encoding() {
      return 'utf-8';
    }
    decode(bytes) {
      if (bytes === undefined) return '';
      if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
      return host.utf8Decode(bytes);
    }
  };
})();
