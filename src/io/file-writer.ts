// Files written on a thread of their own. A promise chain of fs.promises calls (open, write,
// sync, close, rename) needs the calling thread's event loop between every call, and a training
// loop whose batches are ready does not give it one until the epoch ends: checkpoints sat as
// temporaries for a whole epoch. Here the caller hands the bytes over and the writing thread
// does the whole atomic write by itself; only the "done" notice waits for the caller's loop.
import { workerFile } from '../worker-file';
import { WorkerThread } from '../worker-thread';
import type { FileWriteJob, FileWriteReply } from './file-writer-worker';

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** One writing thread and the writes it has been given; it ends once they are all done. */
class WritingThread {
  readonly #pending = new Map<number, Pending>();
  readonly #thread: WorkerThread<FileWriteReply>;
  #nextId = 1;
  #closing = false;

  constructor() {
    this.#thread = new WorkerThread<FileWriteReply>('file writing thread', workerFile('io/file-writer-worker.js'), {}, ({ id, error }) => {
      const job = this.#pending.get(id);
      if (!job) return;
      this.#pending.delete(id);
      // Nothing left to write: the thread goes (a new one starts for the next write, ~40 ms,
      // once an epoch), so that nothing stays behind in a process that trained once.
      if (this.#pending.size === 0) {
        this.#closing = true;
        void this.#thread.close();
      }
      if (error === null) job.resolve();
      else job.reject(new Error(error));
    });
    // A thread that died fails what it was writing (its temporaries are cleaned by the next run).
    this.#thread.onEnd((err) => {
      for (const job of this.#pending.values()) job.reject(err);
      this.#pending.clear();
    });
  }

  get open(): boolean {
    return !this.#closing && !this.#thread.ended;
  }

  write(target: string, chunks: Uint8Array[]): Promise<void> {
    const id = this.#nextId++;
    const transfer = [...new Set(chunks.map(transferable).filter((b): b is ArrayBuffer => b !== null))];
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#thread.post({ id, target, chunks } satisfies FileWriteJob, transfer);
      } catch (err) {
        this.#pending.delete(id);
        reject(err as Error);
      }
    });
  }
}

/** An ArrayBuffer that can be handed over instead of copied: the chunk's own, whole. */
function transferable(chunk: Uint8Array): ArrayBuffer | null {
  const { buffer } = chunk;
  return buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength ? buffer : null;
}

let current: WritingThread | null = null;

/**
 * Writes `chunks` to `target` atomically (temporary file, fsync, rename) on the file-writing
 * thread; resolves once the file is in place. Chunks that own their whole buffer are handed
 * over (they are detached here: the caller must not use them again); others are copied.
 */
export function writeFileAtomicOffThread(target: string, chunks: Uint8Array[]): Promise<void> {
  if (!current?.open) current = new WritingThread();
  return current.write(target, chunks);
}
