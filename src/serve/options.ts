// The server's options, each declared once (options/declare.ts): the library's types, defaults and
// checks, and the `serve` command's flags, help and defaults. All are checked at once before
// anything starts (no model loaded, no thread, no socket): a bad one is a TypeError / RangeError
// naming it (on the command line, its flag), the range and the value.
import { custom, choice, declareOptions, integer, number, type ConfigOf, type OptionsOf } from '../options/declare';
import { MAX_THREADS } from '../device-checks';
import { device } from '../options/common';
import { integerIn, numberIn, preview } from '../options/messages';

export { integerIn, numberIn, preview };

/** Longest timer Node keeps (a longer setTimeout fires after 1 ms instead). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Largest request body accepted as a limit: 2 GiB (bodies are held in memory). */
export const MAX_BODY_BYTES = 2 ** 31;
/** Most images a batch may be given: far above what a forward pass holds. */
export const MAX_BATCH_LIMIT = 65_536;

const MIB = 2 ** 20;

/** A model name: letters, digits, '_', '.', '-', starting with a letter or digit (it is a URL path segment). */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function checkModelName(name: unknown): string {
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) {
    throw new TypeError(`model name ${preview(name)} must start with a letter or digit and hold only letters, digits, '_', '.' and '-'`);
  }
  return name;
}

/** Models given as a Map or a plain object (own properties only), as name -> checkpoint in order. */
export function modelEntries(models: unknown): ReadonlyMap<string, string> {
  let entries: [unknown, unknown][];
  if (models instanceof Map) entries = [...(models as Map<unknown, unknown>)];
  else if (typeof models === 'object' && models !== null && !Array.isArray(models)) entries = Object.entries(models);
  else throw new TypeError(`models must be a Map or an object of name -> checkpoint file, got ${preview(models)}`);
  if (entries.length === 0) throw new TypeError('the server needs at least one model: { models: { name: checkpointFile } }');
  const checked = new Map<string, string>();
  for (const [name, file] of entries) {
    checkModelName(name);
    if (checked.has(name as string)) throw new TypeError(`model '${String(name)}' is given twice`);
    if (typeof file !== 'string' || file === '') throw new TypeError(`model '${String(name)}': the checkpoint must be a file name, got ${preview(file)}`);
    checked.set(name as string, file);
  }
  return checked;
}

/** --model NAME=CHECKPOINT, repeated (a Map: a model may be named like a member of Object.prototype). */
function modelFlag(text: string, _name: string, previous: unknown): Map<string, string> {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new TypeError(`expected NAME=CHECKPOINT, got '${text}'`);
  const models = new Map(previous instanceof Map ? (previous as Map<string, string>) : []);
  const name = text.slice(0, eq);
  if (models.has(name)) throw new TypeError(`model '${name}' is given twice`);
  return models.set(name, text.slice(eq + 1));
}

/** --max-body-mb: MiB on the command line, bytes in the library. */
function mebibytes(text: string, name: string): number {
  const mb = Number(text);
  if (text.trim() === '' || !(mb > 0 && mb <= MAX_BODY_BYTES / MIB)) throw new RangeError(`${name} must be more than 0 and at most ${MAX_BODY_BYTES / MIB} (MiB), got ${text}`);
  return Math.max(1, Math.round(mb * MIB));
}

const HOST_EXAMPLES = '(e.g. 127.0.0.1, or 0.0.0.0 for every interface)';
const blankHost = (host: string) => host.trim() === '' || /\s/.test(host);

/** A host to listen on. Only an explicit address leaves loopback: an empty or blank host (an unset
 * variable in a script) would bind every interface, so it is refused. */
function checkHost(value: unknown, name: string): string {
  if (typeof value !== 'string' || blankHost(value)) {
    throw new TypeError(`${name} must be an address or host name to listen on ${HOST_EXAMPLES}, got ${preview(value)}: an empty one would listen on every interface`);
  }
  return value;
}

/** (the command line says it in commander's words: "argument '' is invalid. expected ...") */
function hostFlag(text: string): string {
  if (blankHost(text)) throw new TypeError(`expected an address or host name ${HOST_EXAMPLES}, got '${text}': an empty one would listen on every interface`);
  return text;
}

/** How one served model batches requests (ServedModel.load, and every model of a server). */
export const BATCHING_OPTIONS = declareOptions({
  /** Most images in one forward pass; default 64. */
  maxBatch: integer({ min: 1, max: MAX_BATCH_LIMIT, style: 'must', default: 64, help: 'most images in one forward pass' }),
  /** How long the first request of a batch may wait for others; default 2 ms. It waits only while
   * requests arrive closer together than this (a request to an idle model, when requests come
   * further apart, would wait for nothing and goes at once). */
  maxQueueDelayMs: number({
    min: 0,
    max: MAX_TIMER_MS,
    unit: ' ms',
    style: 'must',
    default: 2,
    help: 'how long a request may wait for others to batch with (only while requests come closer together than that)',
    flag: { value: '<ms>' },
  }),
  /** Most requests waiting; more are refused with 503 (Retry-After); default 256. */
  maxQueue: integer({ min: 1, max: 2 ** 30, style: 'must', default: 256, help: 'most requests waiting per model; more get 503 with Retry-After' }),
  /** A request not answered within this is refused with 503; default 30,000 ms. */
  requestTimeoutMs: integer({
    min: 1,
    max: MAX_TIMER_MS,
    unit: ' ms',
    style: 'must',
    default: 30_000,
    help: 'a request not answered within this gets 503',
    flag: { name: '--timeout-ms', value: '<ms>' },
  }),
});

/** One served model's options: its batching, device and threads. */
export const SERVED_MODEL_OPTIONS = declareOptions({
  ...BATCHING_OPTIONS.declarations,
  /** Default: defaultDevice() on the model's thread. */
  device: device({}),
  /** libtorch intra-op threads of the model's thread (no other thread is affected). */
  threads: integer({ min: 1, max: MAX_THREADS, style: 'must', help: 'libtorch intra-op threads of each model thread' }),
});

/** The server's options (createServer, startServerThread, `serve`). */
export const SERVE_OPTIONS = declareOptions(
  {
    /** Model name -> checkpoint file written by train (a Map, or an object's own properties). */
    models: custom<ReadonlyMap<string, string> | Record<string, string>>()((value: unknown) => modelEntries(value), {
      required: true,
      help: 'a model to serve, by name (repeat for more)',
      flag: { name: '--model', value: '<name=checkpoint>', parse: modelFlag },
    }),
    ...SERVED_MODEL_OPTIONS.declarations,
    /** Largest request body (for a form: all its files together); larger ones get 413. Default 64 MiB. */
    maxBodyBytes: integer({
      min: 1,
      max: MAX_BODY_BYTES,
      unit: ' bytes',
      style: 'must',
      default: 64 * MIB,
      defaultHelp: '64',
      help: `largest request body in MiB, more than 0 and at most ${MAX_BODY_BYTES / MIB} (413 beyond)`,
      flag: { name: '--max-body-mb', value: '<n>', parse: mebibytes },
    }),
    /** On close(): connections with nothing in progress are closed at once; a request still
     * arriving (partial headers or body) has this long to arrive (then it is answered), after which
     * its connection is closed. Requests already received are answered. Default 10,000 ms. */
    shutdownGraceMs: integer({
      min: 0,
      max: MAX_TIMER_MS,
      unit: ' ms',
      style: 'must',
      default: 10_000,
      help: 'on SIGTERM / SIGINT, how long a request still arriving may take to arrive before its connection is closed (idle connections close at once; requests received are answered)',
      flag: { value: '<ms>' },
    }),
    /** Request log lines on stdout: 'off' (default), 'terse' (one line each) or 'json'. */
    log: choice(['off', 'terse', 'json'], { style: 'must', default: 'off', help: 'request log lines' }),
    /** A request's headers must arrive within this (from the connection, or the answer before it on
     * a kept-alive one), else 408 and the connection is closed. Default 20,000 ms. */
    headersTimeoutMs: integer({ min: 1, max: MAX_TIMER_MS, unit: ' ms', style: 'must', default: 20_000, flag: false }),
    /** The whole request (headers and body) must arrive within this, else 408. Default 120,000 ms. */
    bodyTimeoutMs: integer({ min: 1, max: MAX_TIMER_MS, unit: ' ms', style: 'must', default: 120_000, flag: false }),
    /** An idle kept-alive connection is closed after this. Default 72,000 ms (longer than the
     * usual proxies' 60 s, so that a proxy never reuses a connection the server is closing). */
    keepAliveTimeoutMs: integer({ min: 1, max: MAX_TIMER_MS, unit: ' ms', style: 'must', default: 72_000, flag: false }),
  },
  {
    name: "the server's options",
    together(c, label) {
      // (Node's http server refuses a headers timeout longer than the whole request's)
      if (c.headersTimeoutMs > c.bodyTimeoutMs) {
        throw new RangeError(`${label('headersTimeoutMs')} (${c.headersTimeoutMs} ms) must not be longer than ${label('bodyTimeoutMs')} (${c.bodyTimeoutMs} ms), the time for the whole request`);
      }
    },
  },
);

/** Where a server listens (listen(), startServerThread, `serve`). */
export const LISTEN_OPTIONS = declareOptions(
  {
    /** Address to listen on; default 127.0.0.1 (loopback only). An empty or blank host is refused:
     * it would listen on every interface, so only an explicit address leaves loopback. */
    host: custom(checkHost, {
      default: '127.0.0.1',
      help: 'address to listen on (loopback unless you say otherwise; an empty one is refused)',
      flag: { value: '<host>', parse: hostFlag },
    }),
    /** Default 8080; 0: any free port. */
    port: integer({ min: 0, max: 65535, unit: ' (0: any free port)', style: 'must', default: 8080, help: 'port to listen on (0: any free port)' }),
  },
  { name: 'the listen options' },
);

export type BatchingOptions = OptionsOf<typeof BATCHING_OPTIONS>;
export type ServedModelOptions = OptionsOf<typeof SERVED_MODEL_OPTIONS>;
export type ServedModelConfig = ConfigOf<typeof SERVED_MODEL_OPTIONS>;
export type ServeOptions = OptionsOf<typeof SERVE_OPTIONS>;
/** The server's options resolved: every default filled in, every value checked. */
export type ServeConfig = ConfigOf<typeof SERVE_OPTIONS>;
export type ListenOptions = OptionsOf<typeof LISTEN_OPTIONS>;
export type ListenConfig = ConfigOf<typeof LISTEN_OPTIONS>;

/** Where listen() binds unless told: loopback only. */
export const DEFAULT_LISTEN = { host: LISTEN_OPTIONS.declarations.host.default, port: LISTEN_OPTIONS.declarations.port.default } as const;
