// The inference server: models loaded on their own threads (ServedModel), the Open Inference
// Protocol's REST routes and a plain classify route for people, on Fastify (a well-kept HTTP
// framework: body limits, content-type parsing, graceful close, and a plugin a host app mounts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import { concatChw, imageToChw } from '../inference/preprocess';
import { predictionOf } from '../inference/ranking';
import { HttpError } from './http-error';
import { ServerMetrics } from './metrics';
import { INPUTS, inferResponse, modelMetadata, parseInferRequest, splitBody } from './protocol';
import { ServedModel, type BatchingOptions, type ClientState, type ServedModelOptions } from './served-model';

export interface ServeOptions extends ServedModelOptions {
  /** Model name -> checkpoint file written by train. */
  models: Record<string, string>;
  /** Largest request body; larger ones get 413. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Request log lines on stdout: 'off' (default), 'terse' (one line each) or 'json'. */
  log?: 'off' | 'terse' | 'json';
}

export interface InferenceServer {
  /** The Fastify app (routes, metrics): listen with it, or use `app.routing` as a plain handler. */
  readonly app: FastifyInstance;
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: ServerMetrics;
  /** Starts listening (default 127.0.0.1:8080); the address it listens on. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /** Stops accepting, answers the requests in flight, then frees the models. */
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Where listen() binds unless told: loopback only. */
export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 8080 } as const;
const VERSION = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

/** Loads every model (rejecting with the first checkpoint's error, naming it) and builds the app. */
export async function createServer(options: ServeOptions): Promise<InferenceServer> {
  const entries = Object.entries(options.models ?? {});
  if (entries.length === 0) throw new TypeError('createServer needs at least one model: { models: { name: checkpointFile } }');
  for (const [name, file] of entries) {
    if (!NAME.test(name)) throw new TypeError(`model name '${name}' must be letters, digits, '_', '.' or '-'`);
    if (typeof file !== 'string' || !fs.existsSync(file)) throw new TypeError(`model '${name}': checkpoint ${String(file)} does not exist`);
  }
  const metrics = new ServerMetrics();
  const models = new Map<string, ServedModel>();
  try {
    for (const [name, file] of entries) {
      try {
        models.set(name, await ServedModel.load(name, file, options, metrics));
      } catch (err) {
        throw new Error(`model '${name}' (${file}) could not be loaded: ${(err as Error).message}`);
      }
    }
  } catch (err) {
    await Promise.all([...models.values()].map((m) => m.close()));
    throw err;
  }
  const app = Fastify({ bodyLimit: options.maxBodyBytes ?? 64 * 2 ** 20, logger: false, forceCloseConnections: 'idle' });
  let closing: Promise<void> | null = null;
  // Answers sent while closing end their connection: a kept-alive one would hold close() open
  // for Fastify's whole keep-alive timeout (72 s).
  // (hooks on every request take a callback rather than return a promise: less garbage per request)
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  await app.register(inferenceRoutes({ models, metrics, log: options.log ?? 'off' }));
  await app.ready(); // app.routing(req, res) works from here, inside any http server
  return {
    app,
    models,
    metrics,
    async listen({ host = DEFAULT_LISTEN.host, port = DEFAULT_LISTEN.port } = {}) {
      return app.listen({ host, port });
    },
    close() {
      closing ??= (async () => {
        await app.close(); // stops accepting; in-flight requests are answered first
        await Promise.all([...models.values()].map((m) => m.close()));
      })();
      return closing;
    },
  };
}

export interface InferenceRoutesOptions {
  models: ReadonlyMap<string, ServedModel>;
  metrics: ServerMetrics;
  log?: 'off' | 'terse' | 'json';
}

/**
 * The routes as a Fastify plugin, for a host app that loads its own models:
 * `app.register(inferenceRoutes({ models, metrics }), { prefix: '/ml' })`.
 */
export function inferenceRoutes({ models, metrics, log = 'off' }: InferenceRoutesOptions): FastifyPluginAsync {
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
      const request = await parseInferRequest(json, binary, m.info);
      const result = await m.infer(request.parts, clientState(reply));
      const { body: out, headerLength } = inferResponse(m.name, request, result, m.info);
      if (headerLength === null) return reply.type('application/json').send(out);
      return reply.type('application/octet-stream').header('Inference-Header-Content-Length', String(headerLength)).send(out);
    };
    app.post('/v2/models/:name/infer', infer);
    app.post('/v2/models/:name/versions/:version/infer', infer);

    // For people and curl: an image body, or multipart form files; answers per image. (Multipart
    // is registered for this route alone: it adds hooks to every request of its scope.)
    await app.register(async (scope) => {
      await scope.register(multipart, { limits: { fileSize: 32 * 2 ** 20, files: 256 } });
      scope.post('/v1/models/:name/classify', classify);
    });
    async function classify(req: FastifyRequest<{ Params: { name: string }; Querystring: { top?: string } }>, reply: FastifyReply) {
      const m = model(req.params.name);
      const top = req.query.top === undefined ? 3 : Number(req.query.top);
      if (!Number.isInteger(top) || top < 1 || top > m.info.classNames.length) throw new HttpError(400, `query parameter top must be an integer from 1 to ${m.info.classNames.length}, got '${req.query.top}'`);
      const type = String(req.headers['content-type'] ?? '');
      let files: Buffer[];
      let single = false;
      if (req.isMultipart()) {
        files = [];
        for await (const part of req.files()) files.push(await part.toBuffer());
        if (files.length === 0) throw new HttpError(400, 'the form holds no file');
      } else if (type.startsWith('image/') || type === 'application/octet-stream') {
        files = [req.body as Buffer];
        single = true;
      } else {
        throw new HttpError(415, `send an image (Content-Type: image/...) or multipart/form-data files, not '${type || 'no content type'}'`);
      }
      const images = await Promise.all(
        files.map((f, i) =>
          imageToChw(f, m.info.imageSize).catch((err: Error) => {
            throw new HttpError(/pixel limit/.test(err.message) ? 413 : 400, `${single ? 'the image' : `file ${i + 1}`}: ${err.message}`);
          }),
        ),
      );
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

export { INPUTS };
export type { BatchingOptions };
