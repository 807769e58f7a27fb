// Lambda response streaming for the Alto Node.js runtime: the response stream
// a streamified handler writes to, and its chunked POST.
//
// index.mjs defines the awslambda global and loads this module only when the
// handler is streamified (an extra module file costs ~3 ms of startup).
//
// Wire format (as AWS's Node RIC): one POST /runtime/invocation/{id}/response
// with `Lambda-Runtime-Function-Response-Mode: streaming`, chunked encoding,
// each write sent as it happens. An error after the POST has started is sent
// as the trailers Lambda-Runtime-Function-Error-Type / -Error-Body (base64 of
// the JSON error document).
//
// Differences from the RIC: the stream handed to the handler is a real
// stream.Writable (the RIC hands out a wrapper around the ClientRequest), and
// the HttpResponseStream prelude (_onBeforeFirstWrite) is also written when
// the stream is ended without any write or with end(chunk), so the status and
// headers always reach the caller.

import http from 'node:http';
import { Writable } from 'node:stream';

const HEADER_RESPONSE_MODE = 'Lambda-Runtime-Function-Response-Mode';
const TRAILER_ERROR_TYPE = 'Lambda-Runtime-Function-Error-Type';
const TRAILER_ERROR_BODY = 'Lambda-Runtime-Function-Error-Body';
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

class InvalidStreamingOperation extends Error {}
InvalidStreamingOperation.prototype.name = 'Runtime.InvalidStreamingOperation';

// As the RIC: anything but a string or bytes is written as its JSON text.
function normalizeChunk(chunk) {
  if (typeof chunk === 'string' || chunk instanceof Uint8Array) return chunk;
  return JSON.stringify(chunk);
}

/** The Writable handed to a streamified handler; every write goes to the chunked request. */
class ResponseStream extends Writable {
  #req;
  #started = false;
  #onDestroy;

  constructor(req, highWaterMark, onDestroy) {
    super(highWaterMark ? { highWaterMark } : {});
    this.#req = req;
    this.#onDestroy = onDestroy;
    // The runtime reports stream errors itself (as trailers); without this a
    // destroy(err) by user code nobody listens to would crash the process.
    this.on('error', () => {});
  }

  setContentType(contentType) {
    if (this.#started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    this.#req.setHeader('Content-Type', contentType);
  }

  write(chunk, encoding, callback) {
    const data = normalizeChunk(chunk);
    this.#beforeFirstWrite();
    return super.write(data, encoding, callback);
  }

  end(chunk, encoding, callback) {
    if (typeof chunk === 'function') [chunk, encoding, callback] = [undefined, undefined, chunk];
    else if (typeof encoding === 'function') [encoding, callback] = [undefined, encoding];
    if (chunk !== undefined && chunk !== null) chunk = normalizeChunk(chunk);
    if (!this.writableEnded && !this.destroyed) this.#beforeFirstWrite();
    return super.end(chunk, encoding, callback);
  }

  #beforeFirstWrite() {
    if (this.#started) return;
    this.#started = true;
    const hook = this._onBeforeFirstWrite;
    if (typeof hook === 'function') hook((c) => super.write(c));
  }

  _write(chunk, _encoding, callback) {
    // Backpressure: the next chunk waits until the socket has drained.
    if (this.#req.write(chunk)) callback();
    else this.#req.once('drain', () => callback());
  }

  _final(callback) {
    this.#onDestroy = null; // ended normally: a later destroy reports nothing
    this.#req.end(() => callback());
  }

  _destroy(err, callback) {
    const onDestroy = this.#onDestroy;
    this.#onDestroy = null;
    if (onDestroy) onDestroy(err);
    callback(err);
  }
}

/**
 * Starts the streaming POST for invocation `id`. Returns
 *   stream:    the ResponseStream for the handler,
 *   fail(err): ends the request with the error trailers; false if the
 *              request had already ended (the error can no longer be sent),
 *   responded: resolves once the server has answered (never rejects).
 */
export function openResponseStream({ agent, host, port, path, highWaterMark, toRapidResponse, log }) {
  const req = http.request({
    agent,
    host,
    port,
    method: 'POST',
    path,
    headers: {
      [HEADER_RESPONSE_MODE]: 'streaming',
      'Transfer-Encoding': 'chunked',
      Trailer: `${TRAILER_ERROR_TYPE}, ${TRAILER_ERROR_BODY}`,
      'Content-Type': DEFAULT_CONTENT_TYPE,
    },
  });

  let requestEnded = false;
  let stream;

  const responded = new Promise((resolve) => {
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode < 200 || res.statusCode > 299) {
          log(`POST ${path} returned HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8', 0, 500)}`);
        }
        resolve();
      });
      res.on('error', (err) => {
        log(`POST ${path} failed: ${err.message}`);
        resolve();
      });
    });
    req.on('error', (err) => {
      log(`POST ${path} failed: ${err.message}`);
      requestEnded = true;
      if (!stream.destroyed) stream.destroy(err);
      resolve();
    });
  });

  // Callers check stream.writableEnded first when an error after end() should
  // not be reported (as on AWS, where the request has already ended by then).
  const fail = (err) => {
    if (requestEnded) return false;
    requestEnded = true;
    const doc = toRapidResponse(err);
    const type = String(doc.errorType).replace(/[^\x21-\x7e]/g, '') || 'Unhandled';
    req.addTrailers({
      [TRAILER_ERROR_TYPE]: type,
      [TRAILER_ERROR_BODY]: Buffer.from(JSON.stringify(doc)).toString('base64'),
    });
    req.end();
    if (!stream.destroyed) stream.destroy(); // drops writes not yet handed to the request
    return true;
  };

  stream = new ResponseStream(req, highWaterMark, (err) => {
    // destroy() before end(): the stream's error, or a generic one, goes out as trailers.
    fail(err ?? new Error('The response stream was destroyed before it ended.'));
  });
  stream.once('finish', () => {
    requestEnded = true;
  });

  return { stream, fail, responded, ended: () => requestEnded || stream.writableEnded };
}
