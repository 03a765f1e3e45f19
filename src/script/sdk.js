// The '@nitric/sdk' module as sockscope emulates it: websocket() and kv()
// with the semantics of Nitric's Node SDK, over host functions from Rust
// (their names: src/script/host_api.rs).
//
// SPEED TRICKS. The message path runs once per frame, so four tricks live
// here, each marked "speed trick N" where it stands. Figures are callgrind
// instructions per echoed 32 B message (benches/README.md, the profile
// table); src/script/sdk_invariants.rs fails when an invariant drifts.
//
// 1. Shape anchors (27,091 → 26,602). QuickJS shares an object layout only
//    while an object with it is alive, so one object per layout step of
//    ctx, ctx.req and ctx.res is kept alive.
//    Invariant: the anchor key lists are, in order, the keys of the ctx
//    literals ({req, res}, {success}) and the assignments of the
//    WebsocketRequest constructor. A drift silently loses the gain.
// 2. One-parameter arrows get no `next` (19,086 → 17,366). An arrow has no
//    `arguments`, so `(ctx) => …` cannot see a second argument.
//    Invariant: ONE_PARAMETER_ARROW matches only arrows with exactly one
//    plain parameter; any other handler (two parameters, rest, default,
//    destructured, `function`) still gets a `next`.
// 3. The message entry is `run`, written out (15,138 → 14,539): a call
//    frame fewer per message.
//    Invariant: host.dispatchMessage(id, data) behaves exactly as
//    host.dispatch('message', id, undefined, data). Kept in sync with `run`!
// 4. One settled promise for every successful send (with batching,
//    37,700 → 31,600): `send` is not `async` and returns SENT.
//    Invariant: SENT is frozen and already resolved; a failed send still
//    returns a rejected promise of its own.
const host = globalThis.__sockscope;
delete globalThis.__sockscope;

export class NotFoundError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export class PermissionDeniedError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PermissionDeniedError';
  }
}

export class InvalidArgumentError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InvalidArgumentError';
  }
}

const EVENT_TYPES = ['connect', 'disconnect', 'message'];

// Speed trick 2. An arrow function of one plain parameter cannot see a second argument
// (arrows have no `arguments` of their own), so it is called without a
// `next`, and the closure per message and stage is only made for handlers
// that could use it: two parameters, rest or default ones, `function`s,
// bound functions. The source is read once, when the handler is registered.
const functionSource = Function.prototype.toString;
const ONE_PARAMETER_ARROW = /^(?:async\s*)?(?:\(\s*[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*\s*\)|[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)\s*=>/u;
const takesNext = (handler) => {
  try {
    return !ONE_PARAMETER_ARROW.test(functionSource.call(handler));
  } catch (_) {
    return true;
  }
};

// Runs middleware in order; the chain goes on only through next(ctx), and a
// handler returning undefined stands for "return ctx" (Nitric's createHandler).
// Synchronous chains stay synchronous so the hot path allocates no promises;
// the only closure made per stage is the `next` the handler receives.
const runChain = (middleware, wantsNext, index, current) => {
  if (index === middleware.length) return current;
  const next = wantsNext[index]
    ? (nextCtx) => runChain(middleware, wantsNext, index + 1, nextCtx === undefined ? current : nextCtx)
    : undefined;
  const result = middleware[index](current, next);
  // `=== undefined` first: QuickJS has an opcode for it, while every other
  // strict comparison of non-numbers is a call into the engine.
  if (result === undefined) return current;
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    return result.then((settled) => (settled === undefined ? current : settled));
  }
  return result;
};

// The usual chain is one handler: call it directly, with a `next` that
// only needs the current ctx (no chain position to capture).
const compose = (middleware) => {
  const wantsNext = middleware.map(takesNext);
  if (middleware.length !== 1) return (ctx) => runChain(middleware, wantsNext, 0, ctx);
  const handler = middleware[0];
  const withNext = wantsNext[0];
  return (ctx) => {
    const result = withNext ? handler(ctx, (nextCtx) => (nextCtx === undefined ? ctx : nextCtx)) : handler(ctx);
    if (result === undefined) return ctx;
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      return result.then((settled) => (settled === undefined ? ctx : settled));
    }
    return result;
  };
};

const textOf = (data) => (typeof data === 'string' ? data : host.utf8Decode(data));

class WebsocketRequest {
  constructor(socket, eventType, connectionId, query, data) {
    this.socket = socket;
    this.eventType = eventType;
    this.connectionId = connectionId;
    this.query = query;
    this.data = data;
  }
  text() {
    return textOf(this.data);
  }
  json() {
    return JSON.parse(textOf(this.data));
  }
}

// Speed trick 1. QuickJS lets objects share a layout ("shape") only while some object with
// that layout is alive, and it keeps no shape for the steps in between. Every
// event's ctx, ctx.req and ctx.res die after the event, so each event would
// rebuild every layout one property at a time. These anchors keep one object
// per step alive, so building ctx takes cached layouts all the way.
const anchorSteps = (make, keys) =>
  keys.map((_, count) => {
    const anchor = make();
    for (const key of keys.slice(0, count + 1)) anchor[key] = undefined;
    return anchor;
  });
const SHAPE_ANCHORS = Object.freeze([
  {},
  ...anchorSteps(() => ({}), ['req', 'res']),
  ...anchorSteps(() => ({}), ['success']),
  ...anchorSteps(
    () => Object.create(WebsocketRequest.prototype),
    ['socket', 'eventType', 'connectionId', 'query', 'data'],
  ),
]);

const sockets = new Map();
// Speed trick 4.
const SENT = Object.freeze(Promise.resolve());
// The socket sockscope serves: the first one declared.
let servedSocket;

class Websocket {
  constructor(name) {
    this.name = name;
    this.chains = {};
  }

  on(eventType, ...middleware) {
    if (!EVENT_TYPES.includes(eventType)) {
      throw new TypeError(`websocket('${this.name}').on: unknown event "${eventType}", expected connect, disconnect or message`);
    }
    if (middleware.length === 0) {
      throw new TypeError(`websocket('${this.name}').on('${eventType}') needs at least one handler`);
    }
    middleware.forEach((handler, index) => {
      if (typeof handler !== 'function') {
        throw new TypeError(`websocket('${this.name}').on('${eventType}'): handler ${index + 1} is ${typeof handler}, not a function`);
      }
    });
    if (this.chains[eventType]) {
      throw new Error(`websocket('${this.name}').on('${eventType}') is registered twice; pass all middleware to one on() call`);
    }
    this.chains[eventType] = compose(middleware);
  }

  // Not an `async` function: the same contract (a Promise, rejected on a
  // throw) without an async frame and a new promise per message. Every
  // successful send returns the same settled (frozen) promise.
  // host.send takes a string id with string or Uint8Array data as they are,
  // since it checks types for free where each check here is a call into the
  // engine; for anything else it answers false and this converts.
  send(connectionId, data) {
    try {
      if (!host.send(connectionId, data)) {
        const id = String(connectionId);
        if (typeof data === 'string' || data instanceof Uint8Array) {
          host.send(id, data);
        } else if (data instanceof ArrayBuffer) {
          host.send(id, new Uint8Array(data));
        } else if (data !== undefined) {
          host.send(id, JSON.stringify(data));
        } else {
          throw new InvalidArgumentError(`socket.send(${connectionId}): data is undefined`);
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return SENT;
  }

  async close(connectionId) {
    host.close(String(connectionId));
  }

  async url() {
    return host.url();
  }
}

export const websocket = (name) => {
  if (typeof name !== 'string' || name === '') throw new TypeError('websocket(name): name must be a non-empty string');
  let socket = sockets.get(name);
  if (!socket) {
    socket = new Websocket(name);
    sockets.set(name, socket);
    if (servedSocket === undefined) servedSocket = socket;
  }
  return socket;
};

const PERMISSIONS = ['get', 'set', 'delete'];

const isPlainObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

class KeyValueStore {
  constructor(name, permissions) {
    this.name = name;
    this.permissions = permissions;
  }

  check(operation, permission = operation) {
    if (!this.permissions.includes(permission)) {
      throw new PermissionDeniedError(
        `kv('${this.name}').${operation}: permission '${permission}' was not requested; add it to .allow(...)`,
      );
    }
  }

  async get(key) {
    this.check('get');
    const raw = host.kvGet(this.name, String(key));
    if (raw === undefined) throw new NotFoundError(`key "${key}" not found in store "${this.name}"`);
    return JSON.parse(raw);
  }

  async set(key, value) {
    this.check('set');
    if (value === undefined) throw new InvalidArgumentError(`kv('${this.name}').set("${key}"): value is undefined`);
    if (!isPlainObject(value)) {
      host.log(
        'warn',
        `kv('${this.name}').set("${key}"): value is ${Array.isArray(value) ? 'an array' : typeof value}, not an object; deployed Nitric stores only objects (arrays become {"0": …})`,
      );
    }
    host.kvSet(this.name, String(key), JSON.stringify(value));
  }

  async delete(key) {
    this.check('delete');
    host.kvDelete(this.name, String(key));
  }

  async *keys(prefix = '') {
    this.check('keys', 'get');
    for (const key of host.kvKeys(this.name, String(prefix))) yield key;
  }
}

class KeyValueStoreResource {
  constructor(name) {
    this.name = name;
  }
  allow(...permissions) {
    permissions.forEach((permission) => {
      if (!PERMISSIONS.includes(permission)) {
        throw new TypeError(`kv('${this.name}').allow: unknown permission "${permission}", expected get, set or delete`);
      }
    });
    return new KeyValueStore(this.name, permissions);
  }
}

export const kv = (name) => {
  if (typeof name !== 'string' || name === '') throw new TypeError('kv(name): name must be a non-empty string');
  return new KeyValueStoreResource(name);
};

const isSuccess = (ctx, settled) => {
  const final = settled !== null && typeof settled === 'object' && settled.res ? settled : ctx;
  return final.res.success !== false;
};

// What a chain's result says about success, once it is not `ctx` itself.
const outcome = (ctx, result) => {
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    return result.then((settled) => isSuccess(ctx, settled));
  }
  return isSuccess(ctx, result);
};

// Kept in sync with host.dispatchMessage (speed trick 3)!
const run = (socket, chain, eventType, connectionId, query, data) => {
  const ctx = {
    req: new WebsocketRequest(socket.name, eventType, connectionId, query, data),
    res: { success: true },
  };
  const result = chain(ctx);
  return result === ctx ? ctx.res.success !== false : outcome(ctx, result);
};

// Entry points for the engine: run one chain, return whether the connection
// is accepted (connect) / the handler succeeded, as a boolean or a Promise of
// one. `query` is undefined for disconnect (the request gets {}). Messages,
// the hot path, have their own entry: no event-type string to pass and look
// up per message.
host.dispatch = (eventType, connectionId, query, data) => {
  const socket = servedSocket;
  const chain = socket && socket.chains[eventType];
  if (!chain) return true;
  return run(socket, chain, eventType, connectionId, query === undefined ? {} : query, data);
};

// Speed trick 3: `run`, written out (a call fewer per message). Kept in sync!
host.dispatchMessage = (connectionId, data) => {
  const socket = servedSocket;
  const chain = socket && socket.chains.message;
  if (!chain) return true;
  const ctx = {
    req: new WebsocketRequest(socket.name, 'message', connectionId, {}, data),
    res: { success: true },
  };
  const result = chain(ctx);
  return result === ctx ? ctx.res.success !== false : outcome(ctx, result);
};

host.socketNames = () => Array.from(sockets.keys());
