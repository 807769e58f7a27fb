// Alto Node.js runtime: a Lambda Runtime API (2018-06-01) client.
//
// Started by Alto as `/usr/bin/node $LAMBDA_RUNTIME_DIR/index.mjs` (Node 20,
// built-in modules only). It loads the handler named by _HANDLER
// ("file.export", file may contain directories) from $LAMBDA_TASK_ROOT and
// runs the invoke loop: GET /next -> handler -> POST /response or /error.
//
// Behaviour deliberately follows AWS's aws-lambda-nodejs-runtime-interface-
// client (RIC) so functions behave the same as on Lambda:
//   * module resolution order and ESM/CJS detection (loadUserModule),
//   * async / promise-returning / callback handlers, including
//     context.callbackWaitsForEmptyEventLoop and succeed/fail/done,
//   * error documents {errorType, errorMessage, trace},
//   * console.* lines "<ISO time>\t<requestId>\t<LEVEL>\t<message>",
//   * response streaming: awslambda.streamifyResponse (streaming.mjs).
// Differences from the RIC are noted where they occur.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

// --------------------------------------------------------------------------
// Runtime API client
// --------------------------------------------------------------------------

const API = process.env.AWS_LAMBDA_RUNTIME_API || '';
const API_PREFIX = '/2018-06-01';
const sep = API.lastIndexOf(':');
const API_HOST = API.slice(0, sep).replace(/^\[(.*)\]$/, '$1'); // "[::1]" -> "::1"
const API_PORT = Number(API.slice(sep + 1));

// One keep-alive connection, reused for every call. Idle sockets in the
// agent's pool are unref'd by Node, so they do not keep the event loop
// alive (needed for the beforeExit-based callbackWaitsForEmptyEventLoop).
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function runtimeLog(msg) {
  process.stderr.write(`[alto-nodejs-runtime] ${msg}\n`);
}

/**
 * One HTTP request to the Runtime API. Resolves {status, headers, body}
 * (body is a Buffer). No timeout: GET /next is a long poll.
 * A request that fails on a *reused* keep-alive socket (the server closed it
 * while we were idle) is retried once on a fresh connection, as Node's docs
 * recommend.
 */
function apiRequest(method, urlPath, body, headers = {}, retry = true) {
  return new Promise((resolve, reject) => {
    if (body !== undefined) headers['Content-Length'] = body.length;
    const req = http.request(
      { agent, host: API_HOST, port: API_PORT, method, path: API_PREFIX + urlPath, headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err) => {
      if (retry && req.reusedSocket && err.code === 'ECONNRESET') {
        apiRequest(method, urlPath, body, headers, false).then(resolve, reject);
      } else {
        reject(err);
      }
    });
    req.end(body);
  });
}

// The POST in flight, if any, so a fatal error can let it finish before exit.
let inflight = Promise.resolve();

/** POST that never rejects: non-2xx and network errors are logged only. */
function post(urlPath, body, headers) {
  inflight = doPost(urlPath, body, headers);
  return inflight;
}

async function doPost(urlPath, body, headers) {
  try {
    const res = await apiRequest('POST', urlPath, body, headers);
    if (res.status < 200 || res.status > 299) {
      runtimeLog(`POST ${urlPath} returned HTTP ${res.status}: ${res.body.toString('utf8', 0, 500)}`);
    }
  } catch (err) {
    runtimeLog(`POST ${urlPath} failed: ${err.message}`);
  }
}

async function nextInvocation() {
  let res;
  try {
    res = await apiRequest('GET', '/runtime/invocation/next');
  } catch (err) {
    runtimeLog(`GET /next failed, exiting: ${err.message}`);
    process.exit(1);
  }
  if (res.status !== 200) {
    // 403/500 from /next are fatal per the Runtime API.
    runtimeLog(`GET /next returned HTTP ${res.status}, exiting: ${res.body.toString('utf8', 0, 500)}`);
    process.exit(1);
  }
  return res;
}

// Header values must be printable ASCII; errorType comes from user code.
function errorTypeHeader(type) {
  return { 'Content-Type': 'application/json', 'Lambda-Runtime-Function-Error-Type': String(type).replace(/[^\x21-\x7e]/g, '') || 'Unhandled' };
}

function postResponse(id, result) {
  let json;
  try {
    // As the RIC: undefined (and anything JSON.stringify drops) becomes null.
    json = JSON.stringify(result === undefined ? null : result) ?? 'null';
  } catch (err) {
    // The RIC names this Runtime.JSONStringifyError; Alto uses the common
    // Runtime.MarshalError for both runtimes.
    const e = runtimeError('MarshalError', `Unable to stringify response body: ${err.message}`);
    console.error('Invoke Error', toFormatted(e));
    return postError(id, e);
  }
  return post(`/runtime/invocation/${id}/response`, Buffer.from(json, 'utf8'), {
    'Content-Type': 'application/json',
  });
}

function postError(id, err) {
  const doc = toRapidResponse(err);
  return post(`/runtime/invocation/${id}/error`, Buffer.from(JSON.stringify(doc), 'utf8'), errorTypeHeader(doc.errorType));
}

function postInitError(err) {
  const doc = toRapidResponse(err);
  return post('/runtime/init/error', Buffer.from(JSON.stringify(doc), 'utf8'), errorTypeHeader(doc.errorType));
}

// --------------------------------------------------------------------------
// Errors (same shapes as the RIC's Errors.js)
// --------------------------------------------------------------------------

// Runtime.* errors are instances of per-name Error subclasses whose
// prototype carries the name (as the RIC does), so the stack header reads
// "Runtime.X: message".
const runtimeErrorClasses = new Map();
function runtimeError(name, message) {
  let cls = runtimeErrorClasses.get(name);
  if (!cls) {
    cls = class extends Error {};
    cls.prototype.name = `Runtime.${name}`;
    runtimeErrorClasses.set(name, cls);
  }
  const e = new cls(message);
  Error.captureStackTrace(e, runtimeError); // stack starts at the caller
  return e;
}

function isErrorLike(o) {
  return o && typeof o.name === 'string' && typeof o.message === 'string' && typeof o.stack === 'string';
}

/** Error -> {errorType, errorMessage, trace}; non-errors -> typeof / String(). */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

/** The RIC's toFormatted(): a tab then JSON including enumerable props. */
function toFormatted(error) {
  const withProps = (_k, v) => {
    if (!(v instanceof Error)) return v;
    const ret = Object.assign({ errorType: v.name, errorMessage: v.message, code: v.code }, v);
    if (typeof v.stack === 'string') ret.stack = v.stack.split('\n');
    return ret;
  };
  try {
    return '\t' + JSON.stringify(error, withProps);
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

const intoError = (e) => (e instanceof Error ? e : new Error(e));

// --------------------------------------------------------------------------
// Logging: patch console like the RIC's text format
// --------------------------------------------------------------------------

// Before the first invoke this is undefined and lines show "undefined", as on AWS.
let currentRequestId;

function patchConsole() {
  const write = (level) => (msg, ...params) => {
    // The RIC turns "\n" into "\r" so CloudWatch keeps one event per call;
    // Alto's log is plain text read in terminals, so newlines are kept.
    process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${util.format(msg, ...params)}\n`);
  };
  console.trace = write('TRACE');
  console.debug = write('DEBUG');
  console.info = write('INFO');
  console.log = console.info;
  console.warn = write('WARN');
  console.error = write('ERROR');
  console.fatal = write('FATAL');
}

// --------------------------------------------------------------------------
// Loading the handler (the RIC's UserFunction.js, for Node 20)
// --------------------------------------------------------------------------

// existsSync (not "is a file") on purpose, as the RIC: a directory named like
// the module is loaded through require (its package.json main / index.js).
const exists = (p) => fs.existsSync(p);

/** Nearest package.json above `folder` says "type": "module" (stops at node_modules). */
function folderIsTypeModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = path.join(folder, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8'))?.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    const parent = path.dirname(folder);
    if (parent === folder) return false;
    folder = parent;
  }
}

async function loadUserModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const requireIf = (p) => (exists(p) ? require(p) : undefined);
  const importIf = async (p) => (exists(p) ? import(pathToFileURL(p).href) : undefined);

  // 1. A file with no extension is CommonJS.
  let mod = requireIf(base);
  if (mod) return mod;

  // 2. name.js: CommonJS unless the nearest package.json has "type":"module".
  const jsIsEsm = exists(base + '.js') && folderIsTypeModule(path.dirname(base + '.js'));
  if (jsIsEsm) mod = await importIf(base + '.js');
  else mod = requireIf(base + '.js');
  if (mod) return mod;

  // 3. name.mjs (ESM), then name.cjs (CommonJS).
  mod = (await importIf(base + '.mjs')) || requireIf(base + '.cjs');
  if (mod) return mod;

  // 4. Node-style resolution (e.g. a package in node_modules). Also what
  // produces the MODULE_NOT_FOUND error when nothing exists at all.
  return require(require.resolve(moduleName, { paths: [appRoot, path.join(appRoot, moduleRoot)] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw runtimeError(
      'MalformedHandlerName',
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match) throw runtimeError('MalformedHandlerName', 'Bad handler');
  const [, moduleName, handlerPath] = match;

  let app;
  try {
    app = await loadUserModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) {
      const err = runtimeError('UserCodeSyntaxError', String(e));
      err.stack = e.stack; // the RIC keeps the SyntaxError's own stack
      throw err;
    }
    // ERR_MODULE_NOT_FOUND is what ESM imports raise for a missing
    // dependency; the Node 20 RIC only maps the CommonJS code, Alto maps both.
    if (e?.code === 'MODULE_NOT_FOUND' || e?.code === 'ERR_MODULE_NOT_FOUND') {
      throw runtimeError('ImportModuleError', String(e));
    }
    throw e; // any other exception from the module body: reported as itself
  }

  const fn = handlerPath.split('.').reduce((o, k) => o && o[k], app);
  if (!fn) throw runtimeError('HandlerNotFound', `${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw runtimeError('HandlerNotFound', `${fullHandler} is not a function`);
  return fn;
}

// --------------------------------------------------------------------------
// The awslambda global (response streaming). The stream itself lives in
// streaming.mjs, imported only for a streamified handler: one more module
// file at startup costs ~3 ms.
// --------------------------------------------------------------------------

const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const PRELUDE_DELIMITER_LEN = 8;

// The same markers the RIC puts on a streamified handler.
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

function isStreamingHandler(fn) {
  return fn?.[HANDLER_STREAMING] === STREAM_RESPONSE;
}

function streamingHighWaterMark(fn) {
  return fn?.[HANDLER_HIGHWATERMARK];
}

/** application/vnd.awslambda.http-integration-response: JSON prelude, 8 NUL bytes, then the body. */
class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    const metadata = JSON.stringify(prelude); // JSON text never contains a NUL byte
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadata);
      write(new Uint8Array(PRELUDE_DELIMITER_LEN));
    };
    return underlyingStream;
  }
}

/** Sets globalThis.awslambda, unless AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA opts out (as the RIC). */
function installAwsLambdaGlobal() {
  const optOut = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (optOut === '1' || optOut === 'true') return;
  globalThis.awslambda = {
    ...globalThis.awslambda,
    streamifyResponse(handler, options) {
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') {
        handler[HANDLER_HIGHWATERMARK] = parseInt(String(options.highWaterMark), 10);
      }
      return handler;
    },
    HttpResponseStream,
  };
}

let streaming; // streaming.mjs, once a streamified handler needs it

// --------------------------------------------------------------------------
// Invoke loop
// --------------------------------------------------------------------------

// What to do when the event loop drains (process 'beforeExit'). The runtime
// itself has no pending I/O while a handler runs, so an empty loop means the
// user's work is done: this implements callbackWaitsForEmptyEventLoop and the
// "handler never finished" fallbacks.
let onEmptyLoop = null;
process.on('beforeExit', () => {
  if (onEmptyLoop) onEmptyLoop();
});

let phase = 'init'; // 'init' | 'invoke' | 'idle'
let current = null; // {id, completed} of the invocation in progress
let handlerFn;

function scheduleNext() {
  phase = 'idle';
  current = null;
  onEmptyLoop = null;
  setImmediate(() => {
    handleOnce().catch((err) => {
      // Bugs in the runtime itself; report like an uncaught exception.
      onFatal(err, 'Unexpected Top Level Error');
    });
  });
}

function parseJsonHeader(v) {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return undefined;
  }
}

/**
 * The callback and the context's succeed/fail/done for one invocation
 * (the RIC's CallbackContext.js). Only the first call of any of them counts.
 */
function buildCallbacks(inv) {
  let finished = false;
  const once =
    (fn) =>
    (...args) => {
      if (finished) return;
      finished = true;
      fn(...args);
    };

  const complete = (result) => {
    if (inv.completed) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    inv.completed = true;
    postResponse(inv.id, result).then(scheduleNext);
  };
  const fail = (err) => {
    if (inv.completed) return;
    inv.completed = true;
    console.error('Invoke Error', toFormatted(intoError(err)));
    postError(inv.id, err).then(scheduleNext);
  };

  let waitForEmptyEventLoop = true;
  const callback = (err, result) => {
    onEmptyLoop = null;
    if (err !== undefined && err !== null) return fail(err);
    if (!waitForEmptyEventLoop) return complete(result);
    // Respond only once the user's pending work (timers, sockets) is done.
    onEmptyLoop = () => {
      onEmptyLoop = null;
      setImmediate(() => complete(result));
    };
  };
  const done = (err, result) => {
    onEmptyLoop = null;
    if (err !== undefined && err !== null) fail(err);
    else complete(result);
  };

  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(v) {
      waitForEmptyEventLoop = v;
    },
    succeed: once((result) => done(null, result)),
    fail: once((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
    done: once(done),
  };
  return [once(callback), context];
}

async function handleOnce() {
  const res = await nextInvocation();
  const h = res.headers;
  const id = h['lambda-runtime-aws-request-id'];
  const inv = { id, completed: false };
  current = inv;
  phase = 'invoke';
  currentRequestId = id;

  if (h['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
  else delete process.env._X_AMZN_TRACE_ID;

  const [callback, context] = buildCallbacks(inv);
  const deadline = parseInt(h['lambda-runtime-deadline-ms'], 10) || 0;
  const env = process.env;
  // Assign onto the callback context so its callbackWaitsForEmptyEventLoop
  // accessor survives (Object.assign into a fresh object would flatten it).
  Object.assign(context, {
    awsRequestId: id,
    invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
    clientContext: parseJsonHeader(h['lambda-runtime-client-context']),
    identity: parseJsonHeader(h['lambda-runtime-cognito-identity']),
    tenantId: h['lambda-runtime-aws-tenant-id'],
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, // a string, as on AWS
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  });

  let returnedPromise = false;
  // Fallback if the loop drains and nothing reported a result: a sync or
  // callback handler that never called back answers null (as the RIC); an
  // async handler whose promise never settled is an error (the RIC's
  // Runtime.NodeJsExit).
  onEmptyLoop = () => {
    onEmptyLoop = null;
    if (inv.completed) return;
    if (returnedPromise) {
      const e = runtimeError(
        'NodeJsExit',
        'The event loop became empty before the handler\'s promise settled (an awaited promise can never resolve).',
      );
      inv.completed = true;
      console.error('Invoke Error', toFormatted(e));
      postError(id, e).then(scheduleNext);
    } else {
      inv.completed = true;
      postResponse(id, null).then(scheduleNext);
    }
  };

  if (isStreamingHandler(handlerFn)) {
    streaming ??= await import('./streaming.mjs');
    return runStreaming(inv, res.body, context);
  }

  try {
    const event = JSON.parse(res.body.toString('utf8'));
    const result = handlerFn(event, context, callback);
    if (result && typeof result.then === 'function') {
      returnedPromise = true;
      result.then(context.succeed, context.fail);
    }
  } catch (err) {
    callback(err);
  }
}

/**
 * A streamified handler `async (event, responseStream, context)`. The
 * invocation is done once its promise has settled and the streaming POST has
 * been answered. As the RIC: a non-promise result is an error, return values
 * are ignored. A stream the handler left open is ended for it.
 */
function runStreaming(inv, body, context) {
  const rs = streaming.openResponseStream({
    agent,
    host: API_HOST,
    port: API_PORT,
    path: `${API_PREFIX}/runtime/invocation/${inv.id}/response`,
    highWaterMark: streamingHighWaterMark(handlerFn),
    toRapidResponse,
    log: runtimeLog,
  });
  inv.stream = rs;
  inflight = rs.responded;
  // As the RIC's streaming context: no succeed/fail/done (they would post a
  // second, buffered response).
  delete context.succeed;
  delete context.fail;
  delete context.done;

  const finish = (ok, value) => {
    if (inv.completed) return;
    inv.completed = true;
    onEmptyLoop = null;
    if (!ok) {
      console.error('Invoke Error', toFormatted(intoError(value)));
      // After end() the error can no longer be reported (AWS neither).
      if (!rs.stream.writableEnded) rs.fail(value);
    } else if (!rs.ended()) {
      rs.stream.end();
    }
    rs.responded.then(scheduleNext);
  };
  // Nothing left to run but the handler's promise is still pending.
  onEmptyLoop = () =>
    finish(
      false,
      runtimeError('NodeJsExit', "The event loop became empty before the handler's promise settled."),
    );

  let result;
  try {
    const event = JSON.parse(body.toString('utf8'));
    result = handlerFn(event, rs.stream, context);
  } catch (err) {
    return finish(false, err);
  }
  if (!result || typeof result.then !== 'function') {
    return finish(false, new Error('Streaming does not support non-async handlers.'));
  }
  result.then(
    (value) => {
      if (value !== undefined) console.warn('Streaming handlers ignore return values.');
      finish(true);
    },
    (err) => finish(false, err),
  );
}

// --------------------------------------------------------------------------
// Process-level failures
// --------------------------------------------------------------------------

let dying = false;

/**
 * Uncaught exception / unhandled rejection: report it to whichever phase is
 * active (init error, or the current invocation's error), then exit. The
 * RIC exits with 129 (exception) / 128 (rejection); Alto uses 1 for both.
 */
function onFatal(error, label) {
  console.error(label, toFormatted(intoError(error)));
  if (dying) return;
  dying = true;
  let report = inflight; // e.g. a response already being posted
  if (phase === 'init') report = postInitError(error);
  else if (current?.stream) {
    // The streaming POST holds the connection: report through its trailers
    // (if it has not ended yet).
    if (!current.completed) {
      current.completed = true;
      current.stream.fail(error);
    }
    report = current.stream.responded;
  } else if (current && !current.completed) {
    current.completed = true;
    report = postError(current.id, error);
  }
  report.finally(() => process.exit(1));
}

process.on('uncaughtException', (error) => onFatal(error, 'Uncaught Exception'));
process.on('unhandledRejection', (reason) => {
  // Same error the RIC builds: message is String(reason), e.g. "Error: boom".
  let message;
  try {
    message = reason === undefined ? '' : String(reason);
  } catch {
    message = Object.prototype.toString.call(reason);
  }
  const e = runtimeError('UnhandledPromiseRejection', message);
  e.reason = reason;
  onFatal(e, 'Unhandled Promise Rejection');
});

// --------------------------------------------------------------------------
// Start
// --------------------------------------------------------------------------

if (!API_HOST || !API_PORT) {
  runtimeLog(`AWS_LAMBDA_RUNTIME_API is not set or invalid: '${API}'`);
  process.exit(1);
}

patchConsole();
installAwsLambdaGlobal(); // before user code: modules call awslambda.streamifyResponse at load
const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
try {
  handlerFn = await loadHandler(appRoot, process.env._HANDLER || '');
  if (isStreamingHandler(handlerFn)) streaming = await import('./streaming.mjs');
} catch (err) {
  // phase is 'init': posts /runtime/init/error once (an init-time unhandled
  // rejection may already be doing so), then exits 1.
  onFatal(err, 'Uncaught Exception');
}
if (!dying) scheduleNext();
