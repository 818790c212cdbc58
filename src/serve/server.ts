// The inference server: models loaded on their own threads (ServedModel), the Open Inference
// Protocol's REST routes and a plain classify route for people, on Fastify (a well-kept HTTP
// framework: body limits, content-type parsing, graceful close, and a plugin a host app mounts).
import * as fs from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import { concatChw } from '../inference/preprocess';
import { predictionOf } from '../inference/ranking';
import { HttpError } from './http-error';
import { ServerMetrics } from './metrics';
import { DEFAULT_LISTEN, LISTEN_OPTIONS, preview, SERVE_OPTIONS, type ListenOptions, type ServeOptions } from './options';
import { INPUTS, decodeForRequest, inferResponse, modelMetadata, parseInferRequest, splitBody } from './protocol';
import { ServedModel, type BatchingOptions, type ClientState } from './served-model';

export type { ServeOptions };

export interface InferenceServer {
  /** The Fastify app (routes, metrics): listen with it, or use `app.routing` as a plain handler. */
  readonly app: FastifyInstance;
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: ServerMetrics;
  /** Starts listening (default 127.0.0.1:8080); the address it listens on. An empty or blank
   * host is refused (it would listen on every interface): only an explicit address leaves loopback. */
  listen(options?: ListenOptions): Promise<string>;
  /** Stops accepting, closes idle connections (and, after shutdownGraceMs, those still sending a
   * request), answers the requests received, then frees the models. */
  close(): Promise<void>;
}

const VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

/** Loads every model (rejecting with the first checkpoint's error, naming it) and builds the app.
 * Every option is checked before any model is loaded (a config SERVE_OPTIONS resolved is taken as it is). */
export async function createServer(options: ServeOptions): Promise<InferenceServer> {
  const o = SERVE_OPTIONS.resolve(options);
  for (const [name, file] of o.models) {
    if (!fs.existsSync(file)) throw new TypeError(`model '${name}': checkpoint ${file} does not exist`);
  }
  const metrics = new ServerMetrics();
  const models = new Map<string, ServedModel>();
  try {
    for (const [name, file] of o.models) {
      try {
        models.set(name, await ServedModel.load(name, file, o, metrics));
      } catch (err) {
        throw new Error(`model '${name}' (${file}) could not be loaded: ${(err as Error).message}`);
      }
    }
  } catch (err) {
    await Promise.all([...models.values()].map((m) => m.close()));
    throw err;
  }
  // Node checks the header and request timeouts every connectionsCheckingInterval (30 s unless told).
  const checkEveryMs = Math.max(10, Math.min(1000, Math.floor(o.headersTimeoutMs / 4)));
  const app = Fastify({
    bodyLimit: o.maxBodyBytes,
    logger: false,
    forceCloseConnections: false, // (Connections below closes them)
    return503OnClosing: false, // a request that finishes arriving in the grace period is answered
    keepAliveTimeout: o.keepAliveTimeoutMs,
    requestTimeout: o.bodyTimeoutMs,
    http: { headersTimeout: o.headersTimeoutMs, requestTimeout: o.bodyTimeoutMs, connectionsCheckingInterval: checkEveryMs },
  });
  const connections = new Connections(app.server);
  let closing: Promise<void> | null = null;
  // Answers sent while closing end their connection: a kept-alive one would hold close() open
  // for the whole keep-alive timeout.
  // (hooks on every request take a callback rather than return a promise: less garbage per request)
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  await app.register(inferenceRoutes({ models, metrics, log: o.log, maxBodyBytes: o.maxBodyBytes }));
  await app.ready(); // app.routing(req, res) works from here, inside any http server
  return {
    app,
    models,
    metrics,
    async listen(where) {
      const { host, port } = LISTEN_OPTIONS.resolve(where);
      return app.listen({ host, port });
    },
    close() {
      closing ??= (async () => {
        const closed = app.close(); // stops accepting; requests received are answered first
        connections.shutdown(o.shutdownGraceMs, o.requestTimeoutMs);
        try {
          await closed;
        } finally {
          connections.stop();
        }
        await Promise.all([...models.values()].map((m) => m.close()));
      })();
      return closing;
    },
  };
}

/**
 * The server's connections, for a shutdown that ends: Node stops its header and request timeouts
 * when the server closes, and closes only the connections between two requests, so a client that
 * sent nothing, half its headers or half its body would hold close() open for ever. Here a
 * connection with nothing in progress is closed at once; one still sending a request gets the
 * grace period; one whose request has arrived keeps it until answered, or until the request
 * timeout after the grace period (a client that does not read its answer).
 */
class Connections {
  /** Each connection's request in progress (null between requests) and how many bytes it had
   * read when its last answer was sent (more since then: a request has begun arriving). */
  readonly #open = new Map<Socket, { request: IncomingMessage | null; readWhenIdle: number }>();
  #deadline: NodeJS.Timeout | null = null;
  #shuttingDown = false;
  #graceOver = false;

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      if (this.#graceOver) return void socket.destroy();
      this.#open.set(socket, { request: null, readWhenIdle: 0 });
      socket.once('close', () => this.#open.delete(socket));
    });
    // (one listener function for every response: no closure per request)
    const open = this.#open;
    function answered(this: ServerResponse): void {
      const state = open.get(this.req.socket as Socket);
      if (state?.request !== this.req) return;
      state.request = null;
      state.readWhenIdle = this.req.socket.bytesRead;
    }
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const state = open.get(req.socket as Socket);
      if (!state) return;
      state.request = req;
      res.on('finish', answered);
    });
  }

  /** Whether a connection's request has fully arrived and awaits (or is being given) its answer. */
  #received(state: { request: IncomingMessage | null }): boolean {
    return state.request !== null && state.request.complete;
  }

  /** `answerMs`: how long a received request may then take to be answered and its answer read
   * (its own timeout answers it by then: a connection still open is a client not reading). */
  shutdown(graceMs: number, answerMs: number): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const [socket, state] of this.#open) {
      if (state.request === null && socket.bytesRead === state.readWhenIdle) socket.destroy();
    }
    this.#deadline = setTimeout(() => {
      this.#graceOver = true;
      for (const [socket, state] of this.#open) if (!this.#received(state)) socket.destroy();
      this.#deadline = setTimeout(() => {
        for (const socket of this.#open.keys()) socket.destroy();
      }, answerMs);
    }, graceMs);
  }

  stop(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = null;
  }
}

export interface InferenceRoutesOptions {
  models: ReadonlyMap<string, ServedModel>;
  metrics: ServerMetrics;
  log?: 'off' | 'terse' | 'json';
  /** Most bytes of files one form to the classify route may hold (other bodies: the app's
   * bodyLimit). Default 64 MiB. */
  maxBodyBytes?: number;
}

/**
 * The routes as a Fastify plugin, for a host app that loads its own models:
 * `app.register(inferenceRoutes({ models, metrics }), { prefix: '/ml' })`.
 */
export function inferenceRoutes({ models, metrics, log = 'off', maxBodyBytes = SERVE_OPTIONS.declarations.maxBodyBytes.default }: InferenceRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    // Bodies are read as bytes: the binary extension puts raw tensors after the JSON header.
    app.removeContentTypeParser(['application/json', 'text/plain']);
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      if (err instanceof HttpError) return void reply.code(err.status).headers(err.headers).send({ error: err.message });
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
      reply.code(status).send({ error: status === 413 ? `request body too large: ${err.message}` : err.message });
    });
    app.setNotFoundHandler((req, reply) => void reply.code(404).send({ error: `no route ${req.method} ${req.url}` }));

    app.addHook('onRequest', (req, _reply, done) => {
      (req as FastifyRequest & { startedAt?: number }).startedAt = performance.now();
      done();
    });
    app.addHook('onResponse', (req, reply, done) => {
      const seconds = (performance.now() - ((req as FastifyRequest & { startedAt?: number }).startedAt ?? performance.now())) / 1000;
      const model = (req.params as { name?: string } | undefined)?.name ?? '';
      const route = req.routeOptions.url ?? 'unknown';
      if (route !== '/metrics') metrics.request(models.has(model) ? model : '', route, reply.statusCode, seconds);
      if (log === 'terse') process.stdout.write(`${req.method} ${req.url} ${reply.statusCode} ${(seconds * 1000).toFixed(1)} ms\n`);
      else if (log === 'json') process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), method: req.method, url: req.url, status: reply.statusCode, ms: +(seconds * 1000).toFixed(2), model: model || undefined })}\n`);
      done();
    });

    const model = (name: string): ServedModel => {
      const m = models.get(name);
      if (!m) throw new HttpError(404, `unknown model '${name}': this server has ${[...models.keys()].join(', ')}`);
      return m;
    };
    const allReady = () => [...models.values()].every((m) => m.ready);

    app.get('/v2/health/live', async () => ({ live: true }));
    app.get('/v2/health/ready', async (_req, reply) => reply.code(allReady() ? 200 : 503).send({ ready: allReady() }));
    app.get('/v2', async () => ({ name: 'resnet-native', version: VERSION, extensions: ['binary_tensor_data', 'classification'] }));
    const metadata = async (req: FastifyRequest<{ Params: { name: string } }>) => {
      const m = model(req.params.name);
      return modelMetadata(m.name, m.info);
    };
    app.get('/v2/models/:name', metadata);
    app.get('/v2/models/:name/versions/:version', metadata);
    const ready = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
      const m = model(req.params.name);
      return reply.code(m.ready ? 200 : 503).send({ name: m.name, ready: m.ready });
    };
    app.get('/v2/models/:name/ready', ready);
    app.get('/v2/models/:name/versions/:version/ready', ready);

    const infer = async (req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) => {
      const m = model(req.params.name);
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const header = req.headers['inference-header-content-length'];
      const { json, binary } = splitBody(body, Array.isArray(header) ? header[0] : header);
      const request = await parseInferRequest(json, binary, m.info, { maxBatch: m.maxBatch });
      const result = await m.infer(request.parts, clientState(reply));
      const { body: out, headerLength } = inferResponse(m.name, request, result, m.info);
      if (headerLength === null) return reply.type('application/json').send(out);
      return reply.type('application/octet-stream').header('Inference-Header-Content-Length', String(headerLength)).send(out);
    };
    app.post('/v2/models/:name/infer', infer);
    app.post('/v2/models/:name/versions/:version/infer', infer);

    // For people and curl: an image body, or multipart form files; answers per image. (Multipart
    // is registered for this route alone: it adds hooks to every request of its scope.) A form is
    // read file by file: more files than the model's batch, or more bytes than maxBodyBytes, are
    // refused as they come, before anything is decoded.
    const mostFiles = Math.max(...[...models.values()].map((m) => m.maxBatch));
    await app.register(async (scope) => {
      await scope.register(multipart, { limits: { fileSize: maxBodyBytes, files: mostFiles + 1, fields: 64, fieldSize: 64 * 1024, parts: mostFiles + 65, headerPairs: 64 } });
      scope.post('/v1/models/:name/classify', classify);
    });
    async function readForm(req: FastifyRequest, maxFiles: number): Promise<Buffer[]> {
      const files: Buffer[] = [];
      let bytes = 0;
      try {
        for await (const part of req.files()) {
          if (files.length === maxFiles) throw new HttpError(413, `the form holds more than ${maxFiles} files, more than maxBatch ${maxFiles}: split it`);
          const chunks: Buffer[] = [];
          for await (const chunk of part.file as AsyncIterable<Buffer>) {
            bytes += chunk.length;
            if (bytes > maxBodyBytes) throw new HttpError(413, `request body too large: the form's files hold more than ${maxBodyBytes} bytes`);
            chunks.push(chunk);
          }
          files.push(Buffer.concat(chunks));
        }
      } catch (err) {
        if (err instanceof HttpError) throw err;
        const e = err as Error & { statusCode?: number };
        // the multipart reader's own limits (413), or a form it cannot read (no boundary,
        // truncated, a malformed part): the client's mistake, never a 500
        if (e.statusCode === 413) throw new HttpError(413, `request body too large: the form: ${e.message}`);
        throw new HttpError(400, `the multipart form cannot be read: ${e.message}`);
      }
      if (files.length === 0) throw new HttpError(400, 'the form holds no file');
      return files;
    }
    async function classify(req: FastifyRequest<{ Params: { name: string }; Querystring: { top?: string } }>, reply: FastifyReply) {
      const m = model(req.params.name);
      const top = req.query.top === undefined ? 3 : Number(req.query.top);
      if (!Number.isInteger(top) || top < 1 || top > m.info.classNames.length) throw new HttpError(400, `query parameter top must be an integer from 1 to ${m.info.classNames.length}, got ${preview(req.query.top)}`);
      const type = String(req.headers['content-type'] ?? '');
      let files: Buffer[];
      let single = false;
      if (req.isMultipart()) {
        files = await readForm(req, m.maxBatch);
      } else if (type.startsWith('image/') || type === 'application/octet-stream') {
        files = [req.body as Buffer];
        single = true;
      } else {
        throw new HttpError(415, `send an image (Content-Type: image/...) or multipart/form-data files, not '${type || 'no content type'}'`);
      }
      const images = await decodeForRequest(files, m.info.imageSize, (i) => (single ? 'the image' : `file ${i + 1}`), m.info.resizeSize);
      const result = await m.infer([{ kind: 'chw8', count: images.length, data: concatChw(images) }], clientState(reply));
      const predictions = images.map((_, i) => predictionOf(result.probabilities, i, result.classes, m.info.classNames, top));
      return single ? predictions[0] : { predictions };
    }

    app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  };
}

/** Whether the client went away before its answer was written (the batcher then drops it): read
 * from the connection when a batch is formed, with no listener or AbortController per request. */
class ClientConnection implements ClientState {
  readonly #res: FastifyReply['raw'];
  constructor(res: FastifyReply['raw']) {
    this.#res = res;
  }
  get aborted(): boolean {
    return !this.#res.writableEnded && (this.#res.destroyed || this.#res.socket?.destroyed === true);
  }
}

const clientState = (reply: FastifyReply): ClientState => new ClientConnection(reply.raw);

export { INPUTS, DEFAULT_LISTEN };
export type { BatchingOptions };
