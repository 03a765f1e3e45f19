// The '@nitric/sdk' module as sockscope emulates it: a copy of the 1.2.2
// package's behaviour (shared/NITRIC.md §5) over host functions from Rust
// (their names: src/script/host_api.rs). kv and socket calls return
// promises that settle at the host's next turn, as a gRPC round trip would
// in Node, so handlers of different connections interleave at every await.
//
// SPEED TRICKS. The message path runs once per frame, so four tricks live
// here, each marked "speed trick N" where it stands; src/script/sdk_invariants.rs
// fails when an invariant drifts.
//
// 1. Shape anchors. QuickJS shares an object layout only while an object
//    with it is alive, so one object per layout step of ctx, ctx.req and
//    ctx.res is kept alive.
//    Invariant: the anchor key lists are, in order, the assignments of the
//    WebsocketNotificationContext and WebsocketNotificationRequest
//    constructors and the keys of the response literal.
// 2. One-parameter arrows get no `next`. An arrow has no `arguments`, so
//    `(ctx) => …` cannot see a second argument.
//    Invariant: ONE_PARAMETER_ARROW matches only arrows with exactly one
//    plain parameter; any other handler still gets a `next`.
// 3. The message entry is `run`, written out: a call frame fewer per message.
//    Invariant: host.dispatchMessage(id, data, socket) behaves exactly as
//    host.dispatch('message', id, undefined, data, socket). Kept in sync with `run`!
// 4. A chain still running answers its own result (its ctx left in
//    `awaiting[0]`) and the engine awaits it itself (src/script/turns.rs):
//    no `.then`, derived promise or array per event (−19% of the script
//    thread's instructions per echo).
//    Invariant: the engine reads the success exactly as
//    `result.then((settled) => successOf(ctx, settled))` would.
const host = globalThis.__sockscope;
delete globalThis.__sockscope;

// ---- errors (src/api/errors): none of these classes is exported in 1.2.2.
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];
// `.name` stays "Error", as there; the class shows as `e.constructor.name`.
class NitricProviderError extends Error {}
const ERROR_CLASSES = [
  undefined, 'CancelledError', 'UnknownError', 'InvalidArgumentError', 'DeadlineExceededError', 'NotFoundError',
  'AlreadyExistsError', 'PermissionDeniedError', 'ResourceExhaustedError', 'FailedPreconditionError',
  'AbortedError', 'OutOfRangeError', 'UnimplementedError', 'InternalError', 'UnavailableError', 'DataLossError',
  'UnauthenticatedError',
].map((name) => name && { [name]: class extends NitricProviderError {} }[name]);

// The error the SDK makes of a gRPC status: the same class and five lines.
// Called by Rust when a deferred kv or socket call fails.
host.providerError = (code, details, cause) => {
  const known = code >= 1 && code <= 16;
  const first = `${code} ${known ? STATUS_NAMES[code] : 'UNKNOWN'}: ${details}`;
  const ErrorClass = ERROR_CLASSES[known ? code : 2];
  const detailJson = cause === undefined ? undefined : JSON.stringify({ cause });
  return new ErrorClass(`${first}\nNitric Provider Error: Error\n  Code: ${code}\n  Message: ${first}\n  Details: ${detailJson}`);
};

// ---- contexts (src/context/{base,websocket}.ts)
const EVENT_TYPES = ['connect', 'disconnect', 'message'];
const eventCaseToType = (eventType) => eventType;

export class AbstractRequest {
  constructor(data) {
    this.data = data;
  }
  text() {
    // A non-fatal UTF-8 decoder that drops a leading BOM, as TextDecoder.
    return typeof this.data === 'string' ? this.data : host.utf8Decode(this.data);
  }
  json() {
    const textBody = this.text();
    return textBody ? JSON.parse(textBody) : undefined;
  }
}

// Not `extends`: a derived constructor's super() call costs a frame per
// event; the prototype chain (and so instanceof) is the same.
export class WebsocketNotificationRequest {
  constructor(data, socket, eventType, connectionId, query) {
    this.data = data;
    this.eventCaseToType = eventCaseToType;
    this.socket = socket;
    this.eventType = eventType;
    this.connectionId = connectionId;
    this.query = query;
  }
}
Object.setPrototypeOf(WebsocketNotificationRequest.prototype, AbstractRequest.prototype);

export class BaseContext {
  get req() {
    return this.request;
  }
  get res() {
    return this.response;
  }
}

export class WebsocketNotificationContext {
  constructor(request) {
    this.request = request;
    this.response = { success: true };
  }
  get websocket() {
    return this;
  }
}
Object.setPrototypeOf(WebsocketNotificationContext.prototype, BaseContext.prototype);

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
  ...anchorSteps(() => Object.create(WebsocketNotificationContext.prototype), ['request', 'response']),
  ...anchorSteps(() => ({}), ['success']),
  ...anchorSteps(
    () => Object.create(WebsocketNotificationRequest.prototype),
    ['data', 'eventCaseToType', 'socket', 'eventType', 'connectionId', 'query'],
  ),
]);

// ---- middleware (src/handlers/handler.ts)
export const createHandler = (...handlers) => {
  const reversedHandlers = handlers.slice().reverse();
  return async (ctx, finalNext = (ctx2) => ctx2) => {
    if (handlers.length < 1) throw new Error('at least one handler or middleware function must be provided');
    if (handlers.some((handler) => typeof handler !== 'function')) {
      throw new Error('all handlers and middleware must be functions');
    }
    const composedHandler = reversedHandlers.reduce(
      (next, h) => async (ctx2) => (await h(ctx2, next)) || ctx2,
      finalNext,
    );
    return await composedHandler(ctx);
  };
};

// Speed trick 2. An arrow function of one plain parameter cannot see a second argument
// (arrows have no `arguments` of their own), so it is called without a
// `next`, and the closure per message and stage is only made for handlers
// that could use it. The source is read once, when the handler is registered.
const functionSource = Function.prototype.toString;
const ONE_PARAMETER_ARROW = /^(?:async\s*)?(?:\(\s*[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*\s*\)|[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)\s*=>/u;
const takesNext = (handler) => {
  try {
    return !ONE_PARAMETER_ARROW.test(functionSource.call(handler));
  } catch (_) {
    return true;
  }
};

const isThenable = (value) => value !== null && typeof value === 'object' && typeof value.then === 'function';

// createHandler's chain with the same results, without a promise per stage
// when the handlers are synchronous: each stage gives `(await h(ctx, next))
// || ctx`, and `next(c)` (always a promise, as there) runs the rest with `c`
// exactly as given — `next()` hands the next handler `undefined`, as there.
const runChain = (middleware, wantsNext, index, current) => {
  if (index === middleware.length) return current;
  const next = wantsNext[index]
    ? (nextCtx) => Promise.resolve(runChain(middleware, wantsNext, index + 1, nextCtx))
    : undefined;
  const result = middleware[index](current, next);
  if (result === undefined) return current;
  if (isThenable(result)) return result.then((settled) => settled || current);
  return result || current;
};

const FINAL_NEXT = (ctx) => Promise.resolve(ctx);

// The usual chain is one handler: call it directly. Its raw result goes to
// `settle`, which applies the SDK's `|| ctx`.
const compose = (middleware) => {
  const wantsNext = middleware.map(takesNext);
  if (middleware.length !== 1) return (ctx) => runChain(middleware, wantsNext, 0, ctx);
  const handler = middleware[0];
  return wantsNext[0] ? (ctx) => handler(ctx, FINAL_NEXT) : handler;
};

// What the SDK answers: `!result.websocket.res.success` with result =
// `(await chain(ctx)) || ctx`. Any other truthy result without
// `.websocket.res` throws a TypeError here, as there (then the event fails).
const successOf = (ctx, result) => !!(result || ctx).websocket.res.success;
host.successOf = successOf;
// Speed trick 4. A chain that has not finished leaves its ctx in
// `awaiting[0]` and answers its own result; the engine awaits that itself
// (a promise: it watches its state; any other thenable: `host.awaitThenable`)
// and then reads the success as `successOf` would: no `.then`, no derived
// promise, no reaction job and no array per event. Invariant: the engine's
// reading gives what `result.then((settled) => successOf(ctx, settled))` would.
const awaiting = [undefined];
host.awaiting = awaiting;
const settle = (ctx, result) => {
  if (result === undefined || result === ctx) return !!ctx.response.success;
  if (isThenable(result)) {
    awaiting[0] = ctx;
    return result;
  }
  return successOf(ctx, result);
};
// A thenable that is not a promise, awaited as `await` awaits it.
host.awaitThenable = (result, ctx) => Promise.resolve(result).then((settled) => successOf(ctx, settled));

// ---- websockets (src/resources/websocket.ts)
const sockets = new Map();
// The first socket declared: the one a connection without a named socket
// (the server's first listener) talks to.
let firstSocket;
// `socket.on()` resolves when its stream ends; the embedded lane's never do.
const STREAM_OPEN = new Promise(() => {});

const failingChain = (message) => () => {
  throw new Error(message);
};

export class WebsocketResource {
  constructor(name) {
    this.name = name;
    this.chains = {};
  }

  on(eventType, ...middleware) {
    if (!EVENT_TYPES.includes(eventType)) {
      host.log('warn', `websocket('${this.name}').on('${eventType}'): the SDK has no event "${eventType}" (connect, disconnect or message); it never fires`);
      return STREAM_OPEN;
    }
    if (this.chains[eventType]) {
      throw new Error(`websocket handler already registered, socket: ${this.name} eventType: ${eventType.toUpperCase()}`);
    }
    // The SDK checks these per event, not here: every event then fails.
    if (middleware.length < 1) {
      this.chains[eventType] = failingChain('at least one handler or middleware function must be provided');
      host.log('warn', `websocket('${this.name}').on('${eventType}') has no handler: every ${eventType} event will fail, as with the real SDK`);
    } else if (middleware.some((handler) => typeof handler !== 'function')) {
      this.chains[eventType] = failingChain('all handlers and middleware must be functions');
      host.log('warn', `websocket('${this.name}').on('${eventType}') is given something that is not a function: every ${eventType} event will fail, as with the real SDK`);
    } else {
      this.chains[eventType] = compose(middleware);
    }
    return STREAM_OPEN;
  }

  // host.send takes a string id with string or Uint8Array data as they are
  // and answers the call's promise; for anything else it answers undefined
  // and this converts as the SDK does (JSON text; undefined sends nothing).
  send(connectionId, data) {
    const sent = host.send(connectionId, data);
    if (sent !== undefined) return sent;
    let payload = data;
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      try {
        payload = JSON.stringify(data);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return host.send(String(connectionId), payload === undefined ? '' : payload);
  }

  close(connectionId) {
    return host.close(String(connectionId));
  }

  url() {
    return host.defer(host.url());
  }
}

export const websocket = (name) => {
  let socket = sockets.get(name);
  if (!socket) {
    socket = new WebsocketResource(name);
    sockets.set(name, socket);
    if (firstSocket === undefined) firstSocket = socket;
  }
  return socket;
};

// The per-event handler class the package exports as `Websocket`.
export class Websocket {
  constructor(socketName, eventType, ...middleware) {
    this.socketName = socketName;
    this.eventType = eventType;
    this.middleware = middleware;
  }
  start() {
    return websocket(this.socketName).on(this.eventType, ...this.middleware);
  }
}

export const WebsocketNotificationType = { 0: 'Connected', 1: 'Disconnected', 2: 'Message', Connected: 0, Disconnected: 1, Message: 2 };

// ---- key/value stores (src/resources/keyvalue.ts)
const KV_PERMISSIONS = ['get', 'set', 'delete'];
const FOR_PERMISSIONS = { getting: 'get', setting: 'set', deleting: 'delete' };
const unknownPermission = (permission) =>
  new Error(`unknown key/value store permission ${permission}, supported permissions are ${KV_PERMISSIONS.join(', ')}`);
// The service's policies: what it declared for each store, over all calls.
const declaredPermissions = new Map();
const declarePermissions = (store, permissions) => {
  permissions.forEach((permission) => {
    if (!KV_PERMISSIONS.includes(permission)) throw unknownPermission(permission);
  });
  const declared = declaredPermissions.get(store) || new Set();
  permissions.forEach((permission) => declared.add(permission));
  declaredPermissions.set(store, declared);
};

// google-protobuf's Struct.fromJavaScript: the top level is walked with
// for…in (an array or string becomes {"0": …}, other non-objects {}); inside,
// undefined, functions, BigInt and symbols throw.
const unexpectedStructType = () => new Error('Unexpected struct type.');
const structValue = (value) => {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'object':
      if (value === null) return null;
      return Array.isArray(value) ? value.map(structValue) : structObject(value);
    default:
      throw unexpectedStructType();
  }
};
const structObject = (object) => {
  const struct = {};
  for (const key in object) struct[key] = structValue(object[key]);
  return struct;
};
const isPlainObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

class StoreRef {
  constructor(name) {
    this.name = name;
  }

  // A deployed app's provider refuses what the service did not declare
  // (sockscope's real lane too): PERMISSION_DENIED, after the round trip.
  denied(operation, permission) {
    const declared = declaredPermissions.get(this.name);
    if (!host.enforcePermissions || (declared && declared.has(permission))) return undefined;
    const message = `kv store '${this.name}': ${operation} is not permitted: the service did not declare it; add .allow('${permission}') to kv('${this.name}') (a deployed app refuses this too; --no-permissions allows it as nitric start does)`;
    host.log('error', message);
    return host.deferReject(host.providerError(7, message));
  }

  get(key) {
    return this.denied('get', 'get') || host.kvGet(this.name, String(key));
  }

  set(key, value) {
    let struct;
    try {
      struct = structObject(value);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!isPlainObject(value)) {
      const what = Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value;
      host.log('warn', `kv('${this.name}').set("${key}"): value is ${what}, not an object; the SDK stores ${JSON.stringify(struct)} (as deployed)`);
    }
    return this.denied('set', 'set') || host.kvSet(this.name, String(key), JSON.stringify(struct));
  }

  delete(key) {
    return this.denied('delete', 'delete') || host.kvDelete(this.name, String(key));
  }

  async *keys(prefix = '') {
    const keys = await (this.denied('keys', 'get') || host.kvKeys(this.name, String(prefix)));
    for (const key of keys) yield key;
  }
}

export class KeyValueStoreResource {
  constructor(name) {
    this.name = name;
  }
  allow(perm, ...perms) {
    declarePermissions(this.name, [perm, ...perms]);
    return keyvalue().store(this.name);
  }
  for(perm, ...perms) {
    console.warn("The 'for' method is deprecated, please use 'allow' instead.");
    const permissions = [perm, ...perms].map((permission) => {
      if (!Object.hasOwn(FOR_PERMISSIONS, permission)) throw unknownPermission(permission);
      return FOR_PERMISSIONS[permission];
    });
    declarePermissions(this.name, permissions);
    return keyvalue().store(this.name);
  }
}

const storeResources = new Map();
export const kv = (name) => {
  let store = storeResources.get(name);
  if (!store) {
    store = new KeyValueStoreResource(name);
    storeResources.set(name, store);
  }
  return store;
};

export class KeyValue {
  store(name) {
    return new StoreRef(name);
  }
}
const KEY_VALUE = new KeyValue();
export const keyvalue = () => KEY_VALUE;

// ---- topics (src/resources/topic.ts, src/api/topics/v1/topics.ts,
// src/context/message.ts), delivered in process as `nitric start` delivers
// them: a publish answers at the next turn (Node always sends a delay, so
// the CLI answers before delivering); every subscription of the topic, in
// every service, then gets the message after the delay.
export class MessageRequest extends AbstractRequest {
  constructor(data, topic) {
    super(data);
    this.topic = topic;
  }
}

export class MessageContext extends BaseContext {
  get message() {
    return this;
  }
  // The SDK gives a subscriber the payload as the JSON text of the Struct
  // it read back (keys sorted; integer-like keys first, as in any object).
  static fromMessageRequest(topicName, json) {
    const ctx = new MessageContext();
    ctx.request = new MessageRequest(JSON.stringify(JSON.parse(json)), topicName);
    ctx.response = { success: true };
    return ctx;
  }
}

// This service's subscriptions: topic name → handlers, in subscribe order.
const subscriptions = new Map();

export class SubscriptionWorkerOptions {
  constructor(topic) {
    this.topic = topic;
  }
}

export class Subscription {
  constructor(name, ...middleware) {
    this.options = new SubscriptionWorkerOptions(name);
    this.handler = createHandler(...middleware);
  }
  // The SDK opens a stream that lives as long as the service: the promise
  // never settles here.
  start() {
    const handlers = subscriptions.get(this.options.topic) || [];
    handlers.push(this.handler);
    subscriptions.set(this.options.topic, handlers);
    return STREAM_OPEN;
  }
}

const DEFAULT_PUBLISH_OPTS = { delay: 0 };

export class Topic {
  constructor(eventing, name) {
    this.eventing = eventing;
    this.name = name;
  }
  async publish(message, opts = DEFAULT_PUBLISH_OPTS) {
    const publishOpts = { ...DEFAULT_PUBLISH_OPTS, ...opts };
    const struct = structObject(message);
    return host.topicPublish(this.name, JSON.stringify(struct), Number(publishOpts.delay) || 0);
  }
}

export class Eventing {
  topic(name) {
    if (!name) throw new Error('A topic name is needed to use a Topic.');
    return new Topic(this, name);
  }
}
let EVENTING;
export const topics = () => EVENTING || (EVENTING = new Eventing());

export class TopicResource {
  constructor(name) {
    this.name = name;
  }
  permsToActions(...perms) {
    return perms.map((permission) => {
      if (permission !== 'publish') throw new Error(`unknown permission ${permission}, supported permission is publish`);
      return permission;
    });
  }
  subscribe(...middleware) {
    return new Subscription(this.name, ...middleware).start();
  }
  for(perm, ...perms) {
    console.warn("The 'for' method is deprecated, please use 'allow' instead");
    [perm, ...perms].forEach((permission) => {
      if (permission !== 'publishing') {
        throw new Error(`unknown topic permission ${permission}, supported permission is publishing`);
      }
    });
    return topics().topic(this.name);
  }
  allow(perm, ...perms) {
    this.permsToActions(perm, ...perms);
    return topics().topic(this.name);
  }
}

const topicResources = new Map();
export const topic = (name) => {
  let resource = topicResources.get(name);
  if (!resource) {
    resource = new TopicResource(name);
    topicResources.set(name, resource);
  }
  return resource;
};

// One delivery to this service: every subscription of the topic runs as the
// SDK's stream listener runs it (concurrently; a throw, or a result without
// `.message.res`, goes to console.error). Answers how many subscriptions ran.
host.deliverTopic = (topicName, json) => {
  const handlers = subscriptions.get(topicName);
  if (!handlers) return 0;
  for (const handler of handlers) {
    (async () => {
      try {
        const ctx = MessageContext.fromMessageRequest(topicName, json);
        const result = (await handler(ctx, async (ctx2) => ctx2)) || ctx;
        return result.message.res.success;
      } catch (e) {
        console.error(e);
        return false;
      }
    })();
  }
  return handlers.length;
};

// ---- the rest of the package: declared, not served.
const declaredNotServed = new Set();
const notServedError = (label, operation) =>
  new Error(`${label}${operation}: ${label} is declared, not served by sockscope's embedded lane (it runs websockets, kv and topics); run the service with its real SDK, e.g. sockscope serve --run 'npx tsx services/api.ts'`);
// Registrations (routes, subscriptions, schedules) are accepted and do
// nothing; awaiting an operation's result rejects with the resource's name.
const standIn = (label, path = '') =>
  new Proxy(function standIn() {}, {
    get(_, property) {
      if (property === 'then') {
        return (resolve, reject) => Promise.reject(notServedError(label, path)).then(resolve, reject);
      }
      if (typeof property === 'symbol') return undefined;
      return standIn(label, `${path}.${property}`);
    },
    apply() {
      return standIn(label, `${path}()`);
    },
  });
const declared = (kind) => (name, ...rest) => {
  const label = name === undefined ? `${kind}()` : `${kind}(${JSON.stringify(name)})`;
  if (!declaredNotServed.has(label)) {
    declaredNotServed.add(label);
    host.log('info', `${label} is declared, not served: the embedded lane runs websockets, kv and topics (use --run for the rest)`);
  }
  return standIn(label);
};
export const api = declared('api');
export const bucket = declared('bucket');
export const http = declared('http');
export const json = declared('json');
export const jsonResponse = declared('jsonResponse');
export const oidcRule = declared('oidcRule');
export const queue = declared('queue');
export const queues = declared('queues');
export const schedule = declared('schedule');
export const secret = declared('secret');
export const secrets = declared('secrets');
export const sql = declared('sql');
export const storage = declared('storage');

const notServedClass = (name) => ({
  [name]: class {
    constructor() {
      throw new Error(`${name} is declared, not served by sockscope's embedded lane; run the service with --run to use it`);
    }
  },
}[name]);
export const Api = notServedClass('Api');
export const ApiWorkerOptions = notServedClass('ApiWorkerOptions');
export const BlobEventContext = notServedClass('BlobEventContext');
export const BlobEventRequest = notServedClass('BlobEventRequest');
export const Bucket = notServedClass('Bucket');
export const BucketEventContext = notServedClass('BucketEventContext');
export const BucketEventRequest = notServedClass('BucketEventRequest');
export const BucketNotification = notServedClass('BucketNotification');
export const BucketNotificationWorkerOptions = notServedClass('BucketNotificationWorkerOptions');
export const BucketResource = notServedClass('BucketResource');
export const Cron = notServedClass('Cron');
export const DequeuedMessage = notServedClass('DequeuedMessage');
export const File = notServedClass('File');
export const FileNotification = notServedClass('FileNotification');
export const FileNotificationWorkerOptions = notServedClass('FileNotificationWorkerOptions');
export const HttpContext = notServedClass('HttpContext');
export const HttpRequest = notServedClass('HttpRequest');
export const HttpResponse = notServedClass('HttpResponse');
export const HttpWorkerOptions = notServedClass('HttpWorkerOptions');
export const IntervalContext = notServedClass('IntervalContext');
export const IntervalRequest = notServedClass('IntervalRequest');
export const Method = notServedClass('Method');
export const Queue = notServedClass('Queue');
export const QueueResource = notServedClass('QueueResource');
export const Queueing = notServedClass('Queueing');
export const Rate = notServedClass('Rate');
export const Route = notServedClass('Route');
export const SQLDatabaseResource = notServedClass('SQLDatabaseResource');
export const Schedule = notServedClass('Schedule');
export const Secret = notServedClass('Secret');
export const SecretResource = notServedClass('SecretResource');
export const Secrets = notServedClass('Secrets');
export const Storage = notServedClass('Storage');
export const BlobEventType = { 0: 'Created', 1: 'Deleted', Created: 0, Deleted: 1 };
export const FileMode = { 0: 'Read', 1: 'Write', Read: 0, Write: 1 };

// ---- entry points for the engine
// Run one chain; answer whether the event succeeded (for connect: accepted)
// as a boolean or a Promise of one, or `null` when nothing handles the
// event. `query` is undefined except for connect (the request gets {});
// its values are decoded here, as the SDK decodes them (a stray `%` throws
// URIError, so the connect fails).
const decodeQuery = (raw) => {
  const query = {};
  for (const key in raw) query[key] = raw[key].map((value) => decodeURIComponent(value));
  return query;
};

// Kept in sync with host.dispatchMessage (speed trick 3)!
const run = (socket, chain, eventType, connectionId, query, data) => {
  const ctx = new WebsocketNotificationContext(
    new WebsocketNotificationRequest(data, socket.name, eventType, connectionId, query),
  );
  return settle(ctx, chain(ctx));
};

// `socketName` is the listener's socket; undefined means the first one.
const socketNamed = (socketName) => (socketName === undefined ? firstSocket : sockets.get(socketName) || firstSocket);

host.dispatch = (eventType, connectionId, query, data, socketName) => {
  const socket = socketNamed(socketName);
  const chain = socket && socket.chains[eventType];
  if (!chain) return null;
  return run(socket, chain, eventType, connectionId, query === undefined ? {} : decodeQuery(query), data);
};

// Speed trick 3: `run`, written out (a call fewer per message). Kept in sync!
// `socketNamed` and `settle` are written out too (a JS call costs about
// a thousand instructions here).
host.dispatchMessage = (connectionId, data, socketName) => {
  const socket = socketName === undefined ? firstSocket : sockets.get(socketName) || firstSocket;
  const chain = socket && socket.chains.message;
  if (!chain) return null;
  const ctx = new WebsocketNotificationContext(
    new WebsocketNotificationRequest(data, socket.name, 'message', connectionId, {}),
  );
  const result = chain(ctx);
  if (result === undefined || result === ctx) return !!ctx.response.success;
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    awaiting[0] = ctx;
    return result;
  }
  return successOf(ctx, result);
};

host.socketNames = () => Array.from(sockets.keys());
// Each socket's registered events, as `socket:event`.
host.handledEvents = () =>
  Array.from(sockets.values()).flatMap((socket) => Object.keys(socket.chains).map((event) => `${socket.name}:${event}`));
