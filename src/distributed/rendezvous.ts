// Joining a job: every rank reaches the rendezvous store (rank 0 or torchrun's agent serves it),
// says who it is (its world size, host and pid), and waits until every rank has said so. Checked
// here, before any collective can wait on a rank that is not coming: a rank started with another
// WORLD_SIZE (refused at once, naming both), a store that cannot be reached (a wrong MASTER_PORT),
// ranks that do not join by the deadline (named), and a stop asked for while waiting.
import * as os from 'node:os';
import { openStore, type Store } from './store';
import { JoinError } from '../error-classes';
export { JoinError };

/** What joining needs of the resolved process-group options. */
export interface JoinOptions {
  rank: number;
  worldSize: number;
  host: string;
  port: number;
  isServer: boolean;
  prefix: string;
  /** The join deadline, from the start of joining. */
  timeoutMs: number;
  /** Who serves the store, for messages: 'rank 0' or torchrun's agent. */
  storeServedBy: string;
}

export interface JoinHooks {
  /** Checked while waiting: when it is aborted, joining stops with an error saying so. */
  signal?: Pick<AbortSignal, 'aborted'>;
  /** A line every 10 s while ranks are missing (which, and for how long). */
  onWaiting?: (line: string) => void;
}

interface Joined {
  worldSize: number;
  host: string;
  pid: number;
}

const POLL_MS = 100;
const NOTICE_MS = 10_000;
/** Each client connection attempt's own limit: between attempts a stop is noticed. */
const CONNECT_ATTEMPT_MS = 2000;

/** Blocks this thread (joining and failure diagnosis block: nothing else can go on meanwhile). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function ranksText(ranks: number[]): string {
  return ranks.length === 1 ? `rank ${ranks[0]}` : `ranks ${ranks.join(', ')}`;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** The store, reached by the deadline (a client retries a refused connection until then). */
function reachStore(o: JoinOptions, deadline: number, hooks: JoinHooks): Store {
  const storeOptions = { host: o.host, port: o.port, isServer: o.isServer, worldSize: o.worldSize, prefix: o.prefix };
  if (o.isServer) {
    try {
      return openStore({ ...storeOptions, timeoutMs: o.timeoutMs });
    } catch (err) {
      throw new JoinError(`rank ${o.rank} cannot serve the rendezvous store on ${o.host}:${o.port}: ${firstLine(err)} (is the port in use? pass another --master-port / MASTER_PORT)`);
    }
  }
  for (;;) {
    const left = deadline - Date.now();
    try {
      return openStore({ ...storeOptions, timeoutMs: Math.max(1, Math.min(CONNECT_ATTEMPT_MS, left)) });
    } catch (err) {
      if (hooks.signal?.aborted) throw new JoinError(`rank ${o.rank} was stopped while reaching the rendezvous store at ${o.host}:${o.port}`);
      if (Date.now() >= deadline) {
        throw new JoinError(
          `rank ${o.rank} of ${o.worldSize} could not reach the rendezvous store (served by ${o.storeServedBy}) at ${o.host}:${o.port} within ${seconds(o.timeoutMs)}: ` +
            `is ${o.storeServedBy} running, and were all ranks given the same MASTER_ADDR and MASTER_PORT? (${firstLine(err)})`,
          [0],
        );
      }
      sleepSync(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
    }
  }
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).split('\n')[0].replace(/^\[[^\]\s]+:\d+\]\s*/, '');
}

/**
 * Joins the job's rendezvous: returns the store once every rank has joined with the same world
 * size; throws a JoinError saying what is wrong otherwise (blocking: ranks join before training).
 */
export function joinRendezvous(o: JoinOptions, hooks: JoinHooks = {}): Store {
  const start = Date.now();
  const deadline = start + o.timeoutMs;
  const store = reachStore(o, deadline, hooks);
  try {
    store.set(`join/${o.rank}`, JSON.stringify({ worldSize: o.worldSize, host: os.hostname(), pid: process.pid } satisfies Joined));
    const joined = new Map<number, Joined>();
    let notice = start + NOTICE_MS;
    for (;;) {
      // ranks 0 .. worldSize - 1, and the one past them (a rank of a larger world)
      for (let r = 0; r <= o.worldSize; r++) {
        if (joined.has(r)) continue;
        const raw = store.tryGet(`join/${r}`);
        if (raw === null) continue;
        const peer = parseJoined(raw);
        if (peer.worldSize !== o.worldSize || r >= o.worldSize) {
          throw new JoinError(
            `rank ${r} (pid ${peer.pid} on ${peer.host}) was started with WORLD_SIZE ${peer.worldSize}, and rank ${o.rank} (this one) with ${o.worldSize}: ` +
              'every rank must be given the same world size',
          );
        }
        joined.set(r, peer);
      }
      const missing = [...Array(o.worldSize).keys()].filter((r) => !joined.has(r));
      if (missing.length === 0) return store;
      const now = Date.now();
      const waited = `${seconds(now - start)} of ${seconds(o.timeoutMs)}`;
      const at = `the group at ${o.host}:${o.port}`;
      if (hooks.signal?.aborted) throw new JoinError(`rank ${o.rank} was stopped while waiting ${waited} for ${ranksText(missing)} to join ${at}`, missing);
      if (now >= deadline) {
        throw new JoinError(
          `${ranksText(missing)} of ${o.worldSize} did not join ${at} within ${seconds(o.timeoutMs)} (joined: ${[...joined.keys()].sort((a, b) => a - b).join(', ')}): ` +
            `${missing.length === 1 ? 'was it' : 'were they'} started, with this MASTER_ADDR and MASTER_PORT? (the deadline is --timeout / timeoutMs)`,
          missing,
        );
      }
      if (now >= notice) {
        hooks.onWaiting?.(`rank ${o.rank}: waiting for ${ranksText(missing)} to join ${at} (${waited})`);
        notice += NOTICE_MS;
      }
      sleepSync(POLL_MS);
    }
  } catch (err) {
    store.close();
    if (err instanceof JoinError) throw err;
    throw new JoinError(`rank ${o.rank} lost the rendezvous store at ${o.host}:${o.port} while joining: ${firstLine(err)}`);
  }
}

function parseJoined(raw: string): Joined {
  try {
    const v = JSON.parse(raw) as Joined;
    if (Number.isSafeInteger(v.worldSize) && typeof v.host === 'string' && Number.isSafeInteger(v.pid)) return v;
  } catch {
    // below
  }
  throw new JoinError(`the rendezvous store holds a join record that is not this program's (${JSON.stringify(raw.slice(0, 80))}): is another job using this MASTER_PORT?`);
}
