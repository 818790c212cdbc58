// Entry of the thread startServerThread() starts: createServer and listen here, report where, and
// close when asked (answering what is in flight first).
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../worker-errors';
import { LISTEN_OPTIONS, SERVE_OPTIONS } from './options';
import { createServer, type InferenceServer } from './server';
import type { ServerThreadReply, ServerThreadRequest, ServerThreadStart } from './server-thread';

const port = parentPort!;
const given = workerData as ServerThreadStart;
// (resolved by startServerThread: not checked again)
const options = SERVE_OPTIONS.fromThread(given.options);
const listen = LISTEN_OPTIONS.fromThread(given.listen);

async function start(): Promise<InferenceServer> {
  const server = await createServer(options);
  try {
    const address = await server.listen(listen);
    const models = [...server.models.values()].map((m) => ({ name: m.name, info: m.info }));
    port.postMessage({ kind: 'listening', address, models } satisfies ServerThreadReply);
    return server;
  } catch (err) {
    await server.close();
    throw new Error(`cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}`);
  }
}

start().then(
  (server) => {
    port.on('message', (m: ServerThreadRequest) => {
      if (m.kind !== 'close') return;
      void server.close().then(() => {
        port.postMessage({ kind: 'closed' } satisfies ServerThreadReply);
        // nothing is left to do here: once the log lines written so far are handed over, the
        // thread ends by itself (see ServerThread.close)
        process.stdout.write('', () => port.close());
      });
    });
  },
  (err: unknown) => port.postMessage({ kind: 'failed', error: serializeError(err) } satisfies ServerThreadReply),
);
