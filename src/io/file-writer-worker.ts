// The file-writing thread (see file-writer.ts): writes each file it is sent atomically, with
// plain synchronous calls, and says when the file is in place. Its own event loop turns whatever
// the thread that asked is doing, so a file lands while a training loop keeps its thread busy.
import { parentPort } from 'node:worker_threads';
import { writeFileAtomic } from './atomic';

export interface FileWriteJob {
  id: number;
  target: string;
  chunks: Uint8Array[];
}

export interface FileWriteReply {
  id: number;
  error: string | null;
}

parentPort!.on('message', ({ id, target, chunks }: FileWriteJob) => {
  let error: string | null = null;
  try {
    writeFileAtomic(target, chunks);
  } catch (err) {
    error = (err as Error).message;
  }
  parentPort!.postMessage({ id, error } satisfies FileWriteReply);
});
