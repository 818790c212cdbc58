// The server on a thread of its own, with a young generation sized for a server. V8 reads heap
// sizes only when a thread's heap is made, so this is how `serve` (and a service that wants the
// server off its own event loop) gets them without Node flags. Why the size: with V8's default (a
// 16 MiB semi-space once allocation is steady) and a small live heap (~12 MiB), the room left
// below the old generation's limit is less than the young generation, so V8 marks the whole heap
// instead of each scavenge: a full mark-compact every ~0.5 s under load. With 4 MiB it scavenges;
// the server's CPU per request outside the model's threads was about a quarter lower at
// concurrency 64 (README "Serving").
import { deserializeError, type SerializedError } from '../worker-errors';
import { workerFile } from '../worker-file';
import { WorkerThread } from '../worker-thread';
import type { ModelInfo } from './model-messages';
import { LISTEN_OPTIONS, SERVE_OPTIONS, type ListenConfig, type ListenOptions, type ServeConfig, type ServeOptions } from './options';

/** Young generation of the server's thread (3 semi-spaces' worth in V8's accounting: 4 MiB each). */
export const SERVER_YOUNG_GENERATION_MB = 12;

/** What the thread is given: the options and where to listen, resolved here (not again there). */
export interface ServerThreadStart {
  options: ServeConfig;
  listen: ListenConfig;
}
export type ServerThreadRequest = { kind: 'close' };
export type ServerThreadReply =
  | { kind: 'listening'; address: string; models: { name: string; info: ModelInfo }[] }
  | { kind: 'failed'; error: SerializedError }
  | { kind: 'closed' };

export interface ServerThread {
  /** Where it listens, e.g. http://127.0.0.1:8080. */
  readonly address: string;
  /** The models it serves, in the order given. */
  readonly models: readonly { name: string; info: ModelInfo }[];
  /** The thread's V8 heap limits (its young generation is SERVER_YOUNG_GENERATION_MB). */
  readonly resourceLimits: { maxYoungGenerationSizeMb?: number; maxOldGenerationSizeMb?: number };
  /** Calls `listener` if the thread ends before close() (a crash): the server is gone then. */
  onEnd(listener: (err: Error) => void): void;
  /** Stops accepting, answers the requests in flight, frees the models, ends the thread. */
  close(): Promise<void>;
}

/**
 * Loads the models and listens, like `createServer(options)` then `listen(listen)`, on a thread
 * of its own: rejects with the first checkpoint's error, or why it cannot listen. The options and
 * where to listen are checked first, before the thread starts (an empty or blank host is refused:
 * it would listen on every interface).
 */
export async function startServerThread(options: ServeOptions, listen: ListenOptions = {}): Promise<ServerThread> {
  const start: ServerThreadStart = { options: SERVE_OPTIONS.resolve(options), listen: LISTEN_OPTIONS.resolve(listen) };
  let deliver: (m: ServerThreadReply) => void = () => {};
  const thread = new WorkerThread<ServerThreadReply>(
    'server thread',
    workerFile('serve/server-worker.js'),
    { workerData: start, resourceLimits: { maxYoungGenerationSizeMb: SERVER_YOUNG_GENERATION_MB } },
    (m) => deliver(m),
  );
  const next = () => thread.race(new Promise<ServerThreadReply>((resolve) => (deliver = resolve)));
  const first = await next().catch(async (err: Error) => {
    await thread.close();
    throw err;
  });
  if (first.kind !== 'listening') {
    await thread.close();
    throw first.kind === 'failed' ? deserializeError(first.error) : new Error(`server thread: unexpected '${first.kind}'`);
  }
  let closing: Promise<void> | null = null;
  return {
    address: first.address,
    models: first.models,
    resourceLimits: thread.resourceLimits,
    onEnd: (listener) => {
      thread.onEnd((err) => {
        if (!closing) listener(err);
      });
    },
    close() {
      closing ??= (async () => {
        const closed = next();
        thread.post({ kind: 'close' } satisfies ServerThreadRequest);
        await closed;
        // The thread then ends by itself once its output (request log lines) is flushed:
        // terminating it at once could drop the last lines. Terminated only if it does not.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5000);
          thread.onEnd(() => (clearTimeout(timer), resolve()));
        });
        await thread.close();
      })();
      return closing;
    },
  };
}
