// The server's options, checked all at once before anything starts (no model loaded, no thread,
// no socket): a bad one is a TypeError / RangeError naming it, the range and the value.
import { checkDeviceName, MAX_THREADS, type Device } from '../device';

/** Where listen() binds unless told: loopback only. */
export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 8080 } as const;

/** Longest timer Node keeps (a longer setTimeout fires after 1 ms instead). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Largest request body accepted as a limit: 2 GiB (bodies are held in memory). */
export const MAX_BODY_BYTES = 2 ** 31;
/** Most images a batch may be given: far above what a forward pass holds. */
export const MAX_BATCH_LIMIT = 65_536;

export const SERVE_DEFAULTS = {
  maxBatch: 64,
  maxQueueDelayMs: 2,
  maxQueue: 256,
  requestTimeoutMs: 30_000,
  maxBodyBytes: 64 * 2 ** 20,
  headersTimeoutMs: 20_000,
  bodyTimeoutMs: 120_000,
  keepAliveTimeoutMs: 72_000,
  shutdownGraceMs: 10_000,
} as const;

/** A model name: letters, digits, '_', '.', '-', starting with a letter or digit (it is a URL path segment). */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function checkModelName(name: unknown): string {
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) {
    throw new TypeError(`model name ${preview(name)} must start with a letter or digit and hold only letters, digits, '_', '.' and '-'`);
  }
  return name;
}

/** Models given as a Map or a plain object (own properties only), as [name, checkpoint] pairs in order. */
export function modelEntries(models: unknown): [string, string][] {
  let entries: [unknown, unknown][];
  if (models instanceof Map) entries = [...(models as Map<unknown, unknown>)];
  else if (typeof models === 'object' && models !== null && !Array.isArray(models)) entries = Object.entries(models);
  else throw new TypeError(`models must be a Map or an object of name -> checkpoint file, got ${preview(models)}`);
  if (entries.length === 0) throw new TypeError('the server needs at least one model: { models: { name: checkpointFile } }');
  const seen = new Set<string>();
  return entries.map(([name, file]) => {
    checkModelName(name);
    if (seen.has(name as string)) throw new TypeError(`model '${String(name)}' is given twice`);
    seen.add(name as string);
    if (typeof file !== 'string' || file === '') throw new TypeError(`model '${String(name)}': the checkpoint must be a file name, got ${preview(file)}`);
    return [name as string, file];
  });
}

export function integerIn(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}${unit}, got ${preview(value)}`);
  }
  return value;
}

export function numberIn(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a number from ${min} to ${max}${unit}, got ${preview(value)}`);
  }
  return value;
}

export interface CheckedServeOptions {
  models: [string, string][];
  maxBatch: number;
  maxQueueDelayMs: number;
  maxQueue: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  shutdownGraceMs: number;
  device?: Device;
  threads?: number;
  log: 'off' | 'terse' | 'json';
}

/** How an option is named in messages (the CLI names its flags). */
export type OptionLabel = (option: string) => string;

/** Every option of createServer / startServerThread, with its default; throws naming the first bad one. */
export function checkServeOptions(options: Record<string, unknown>, label: OptionLabel = (o) => o): CheckedServeOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`the server's options must be an object, got ${preview(options)}`);
  const get = (key: string): unknown => (Object.hasOwn(options, key) ? options[key] : undefined);
  const or = <T>(key: string, fallback: T): unknown => get(key) ?? fallback;
  const d = SERVE_DEFAULTS;
  const log = or('log', 'off');
  if (log !== 'off' && log !== 'terse' && log !== 'json') throw new TypeError(`${label('log')} must be 'off', 'terse' or 'json', got ${preview(log)}`);
  const int = (key: keyof typeof d, min: number, max: number, unit = '') => integerIn(label(key), or(key, d[key]), min, max, unit);
  const checked: CheckedServeOptions = {
    models: modelEntries(get('models')),
    maxBatch: int('maxBatch', 1, MAX_BATCH_LIMIT),
    maxQueueDelayMs: numberIn(label('maxQueueDelayMs'), or('maxQueueDelayMs', d.maxQueueDelayMs), 0, MAX_TIMER_MS, ' ms'),
    maxQueue: int('maxQueue', 1, 2 ** 30),
    requestTimeoutMs: int('requestTimeoutMs', 1, MAX_TIMER_MS, ' ms'),
    maxBodyBytes: int('maxBodyBytes', 1, MAX_BODY_BYTES, ' bytes'),
    headersTimeoutMs: int('headersTimeoutMs', 1, MAX_TIMER_MS, ' ms'),
    bodyTimeoutMs: int('bodyTimeoutMs', 1, MAX_TIMER_MS, ' ms'),
    keepAliveTimeoutMs: int('keepAliveTimeoutMs', 1, MAX_TIMER_MS, ' ms'),
    shutdownGraceMs: int('shutdownGraceMs', 0, MAX_TIMER_MS, ' ms'),
    device: get('device') === undefined ? undefined : checkDeviceName(label('device'), get('device')),
    threads: get('threads') === undefined ? undefined : integerIn(label('threads'), get('threads'), 1, MAX_THREADS),
    log,
  };
  // (Node's http server refuses a headers timeout longer than the whole request's)
  if (checked.headersTimeoutMs > checked.bodyTimeoutMs) {
    throw new RangeError(`${label('headersTimeoutMs')} (${checked.headersTimeoutMs} ms) must not be longer than ${label('bodyTimeoutMs')} (${checked.bodyTimeoutMs} ms), the time for the whole request`);
  }
  return checked;
}

/** Where to listen. Only an explicit address leaves loopback: an empty or blank host (an unset
 * variable in a script) would bind every interface, so it is refused. */
export function checkListen(listen: unknown, label: OptionLabel = (o) => o): { host: string; port: number } {
  if (listen === undefined) return { ...DEFAULT_LISTEN };
  if (typeof listen !== 'object' || listen === null) throw new TypeError(`the listen options must be { host, port }, got ${preview(listen)}`);
  const get = (key: string): unknown => (Object.hasOwn(listen, key) ? (listen as Record<string, unknown>)[key] : undefined);
  const host = get('host') ?? DEFAULT_LISTEN.host;
  if (typeof host !== 'string' || host.trim() === '' || /\s/.test(host)) {
    throw new TypeError(
      `${label('host')} must be an address or host name to listen on (e.g. 127.0.0.1, or 0.0.0.0 for every interface), got ${preview(host)}: an empty one would listen on every interface`,
    );
  }
  const port = integerIn(label('port'), get('port') ?? DEFAULT_LISTEN.port, 0, 65535, ' (0: any free port)');
  return { host, port };
}

/** A short, safe rendering of any value for an error message (no recursion into deep values). */
export function preview(value: unknown, max = 60): string {
  if (typeof value === 'string') {
    const s = JSON.stringify(value.length > max ? `${value.slice(0, max)}...` : value);
    return s;
  }
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) {
    const items: string[] = [];
    let length = 1;
    for (const v of value) {
      const s = typeof v === 'object' && v !== null ? (Array.isArray(v) ? '[...]' : '{...}') : preview(v, 20);
      if (length + s.length > max) {
        items.push('...');
        break;
      }
      items.push(s);
      length += s.length + 1;
    }
    return `[${items.join(',')}]`;
  }
  if (typeof value === 'object') return 'an object';
  return typeof value;
}
