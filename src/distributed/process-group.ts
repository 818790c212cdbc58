// Process groups for data-parallel training: libtorch's c10d (TCPStore rendezvous, Gloo
// collectives) from native/distributed.cc. Options default to the environment that torchrun,
// a Kubeflow PyTorchJob or a SLURM script sets up (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT),
// so a process started by any of them joins its group with initProcessGroup().
import { checkDeviceName, type Device } from '../device';
import { checkChoice, checkInteger, invalidArgument } from '../errors';
import { native, type NativeProcessGroup } from '../native';
import { JoinError, joinRendezvous, ranksText, sleepSync, type JoinHooks } from './rendezvous';
import { Tensor, isFloatDtype } from '../tensor';
import { DistributedError } from '../error-classes';
export { DistributedError };

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';
export type Backend = 'gloo' | 'nccl';
const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'avg', 'max', 'min', 'product'];

export interface ProcessGroupOptions {
  /** 'gloo' (CPU tensors; default) or 'nccl' (CUDA tensors; CUDA builds, see doctor). */
  backend?: Backend;
  /** This process's rank, 0 .. worldSize - 1; default $RANK. */
  rank?: number;
  /** How many processes; default $WORLD_SIZE. */
  worldSize?: number;
  /** Where rank 0 serves the rendezvous store; default $MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** Its port; default $MASTER_PORT, else 29500 (PyTorch's). */
  masterPort?: number;
  /** How long joining may wait for every rank, and each collective for the other ranks;
   * default 300,000 ms (train --timeout, in seconds). */
  timeoutMs?: number;
  /** The network interface Gloo uses (multi-node); default $GLOO_SOCKET_IFNAME. */
  interface?: string;
  /** This process's index among the ranks on its machine; default $LOCAL_RANK, else 0. */
  localRank?: number;
  /** NCCL: the GPU of this rank, where the group's own tensors live; default `cuda:<localRank>`. */
  device?: Device;
  /** Checked while waiting for the other ranks to join: when aborted, joining stops, saying so. */
  signal?: JoinHooks['signal'];
  /** A line every 10 s while ranks are missing at joining (default: none). */
  onWaiting?: JoinHooks['onWaiting'];
}

/** Every option of a rank's group, resolved: given, from the launcher's environment, or default. */
export interface ResolvedProcessGroupOptions {
  backend: Backend;
  rank: number;
  worldSize: number;
  host: string;
  port: number;
  timeoutMs: number;
  /** Whether this rank serves the rendezvous store (rank 0, unless torchrun's agent does). */
  isServer: boolean;
  storeServedBy: string;
  /** Keys of this attempt (torchrun restarts) in the store. */
  prefix: string;
  interface: string;
  hostname: string;
  localRank: number;
  device: Device;
}

/** How long a survivor watches the other ranks' heartbeats (published every 500 ms) after a failure. */
const HEARTBEAT_WATCH_MS = 1500;

/** Which ranks are at fault, read from their heartbeats in the store, and how to say it. */
export interface FailureDiagnosis {
  failedRanks: number[];
  explanation: string;
}

/** Why distributed training (or, given 'nccl', that backend) is unavailable in this build (null when it is available). */
export function distributedUnavailableReason(backend: Backend = 'gloo'): string | null {
  return native.distributedUnavailableReason() ?? (backend === 'nccl' ? native.ncclUnavailableReason() : null);
}

function fromEnv(name: string, env: NodeJS.ProcessEnv, option: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  // Number(' ') is 0: a blank value must not become rank 0
  if (raw.trim() === '' || !Number.isSafeInteger(value)) throw new TypeError(`Expected an integer in $${name} (for ${option}) but it is '${raw}'`);
  return value;
}

/** The options a rank joins with: given values, else the launcher's environment, else defaults. */
export function resolveProcessGroupOptions(
  options: ProcessGroupOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedProcessGroupOptions {
  const backend = checkChoice('backend', options.backend, ['gloo', 'nccl'] as const, 'gloo');
  const rank = options.rank ?? fromEnv('RANK', env, 'rank');
  const worldSize = options.worldSize ?? fromEnv('WORLD_SIZE', env, 'worldSize');
  if (rank === undefined) throw new TypeError('No rank: pass rank, or start the process with RANK set (torchrun and PyTorchJob set it)');
  if (worldSize === undefined) throw new TypeError('No world size: pass worldSize, or start the process with WORLD_SIZE set');
  checkInteger('worldSize', worldSize, 1);
  checkInteger('rank', rank, 0);
  if (rank >= worldSize) throw new RangeError(`rank ${rank} is not below worldSize ${worldSize}`);
  const host = options.masterAddr ?? env.MASTER_ADDR ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw invalidArgument('a host name or address', 'masterAddr', host);
  const port = options.masterPort ?? fromEnv('MASTER_PORT', env, 'masterPort') ?? 29500;
  checkInteger('masterPort', port, 1);
  if (port > 65535) throw new RangeError(`masterPort ${port} is not a port (1 to 65535)`);
  const timeoutMs = checkInteger('timeoutMs', options.timeoutMs ?? 300_000, 1);
  const localRank = checkInteger('localRank', options.localRank ?? fromEnv('LOCAL_RANK', env, 'localRank') ?? 0, 0);
  // Gloo reduces CPU tensors; an NCCL rank's are on its own GPU.
  const named = backend === 'gloo' ? 'cpu' : checkDeviceName('device', options.device ?? 'cuda');
  const device: Device = named === 'cuda' ? `cuda:${localRank}` : named;
  if (backend === 'nccl' && device === 'cpu') throw new TypeError("the NCCL backend reduces CUDA tensors: its device cannot be 'cpu' (use the Gloo backend on the CPU)");
  const iface = options.interface ?? env.GLOO_SOCKET_IFNAME ?? '';
  // torchrun's agent already serves a store on MASTER_PORT: every rank is a client there, and a
  // restarted group must not read the keys of the attempt before it.
  const agentStore = env.TORCHELASTIC_USE_AGENT_STORE === 'True';
  const attempt = env.TORCHELASTIC_RESTART_COUNT ?? '0';
  const local = host === '127.0.0.1' || host === 'localhost' || host === '::1';
  return {
    backend,
    rank,
    worldSize,
    host,
    port,
    timeoutMs,
    isServer: !agentStore && rank === 0,
    storeServedBy: agentStore ? `torchrun's agent at ${host}:${port}` : 'rank 0',
    localRank,
    device,
    prefix: `resnet-native/attempt_${attempt}/`,
    interface: iface,
    // every rank on this machine: Gloo listens on loopback; otherwise on this host's address
    hostname: iface === '' && local ? '127.0.0.1' : '',
  };
}

/** A group of processes that reduce, broadcast and gather tensors together (CPU tensors with
 * Gloo, CUDA tensors with NCCL). */
export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: Backend;
  /** Where the tensors this group reduces live: the CPU for Gloo, this rank's GPU for NCCL. */
  readonly device: Device;
  readonly #native: NativeProcessGroup;
  readonly #storeHost: string;

  /** @internal Use initProcessGroup(). */
  constructor(handle: NativeProcessGroup, storeServedBy = 'rank 0', backend: Backend = 'gloo', device: Device = backend === 'gloo' ? 'cpu' : 'cuda:0') {
    this.#native = handle;
    this.backend = backend;
    this.device = device;
    this.#storeHost = storeServedBy;
    this.rank = handle.rank;
    this.worldSize = handle.worldSize;
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  #checkTensors(tensors: Tensor | Tensor[]): Tensor[] {
    return checkTensors(tensors, this.backend);
  }

  #run<R>(what: string, fn: () => R): R {
    try {
      return fn();
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw err;
      throw this.failure(`${what} failed`, err as Error);
    }
  }

  /**
   * After a failed collective: which other ranks are gone (their heartbeat stopped) or alive but
   * behind (they entered fewer collectives than this one). Takes about 1.5 s.
   */
  diagnose(): FailureDiagnosis {
    if (this.#native.isDestroyed) return { failedRanks: [], explanation: 'this group was destroyed' };
    let first: ReturnType<NativeProcessGroup['peerStates']>;
    let second: typeof first;
    try {
      first = this.#native.peerStates(2000);
      sleepSync(HEARTBEAT_WATCH_MS);
      second = this.#native.peerStates(2000);
    } catch (err) {
      const gone = this.#storeHost === 'rank 0' && this.rank !== 0 ? [0] : [];
      return { failedRanks: gone, explanation: `the rendezvous store (served by ${this.#storeHost}) cannot be reached, so ${this.#storeHost} is gone (${(err as Error).message.split('\n')[0]})` };
    }
    const parse = (v: string | null) => (v === null ? null : v.split(' ').map(Number));
    const others = [...Array(this.worldSize).keys()].filter((r) => r !== this.rank);
    const gone = others.filter((r) => {
      const [a, b] = [parse(first.peers[r]), parse(second.peers[r])];
      return a === null || b === null || a[0] === b[0];
    });
    if (gone.length > 0) {
      return { failedRanks: gone, explanation: `${ranksText(gone)} stopped answering (no heartbeat for ${HEARTBEAT_WATCH_MS / 1000} s: the process died or is stopped)` };
    }
    const behind = others.filter((r) => parse(second.peers[r])![1] < second.entered);
    if (behind.length > 0) {
      return { failedRanks: behind, explanation: `${ranksText(behind)} is alive but did not reach this collective (#${second.entered}): it hangs or fell behind` };
    }
    return { failedRanks: [], explanation: 'every rank is alive and reached this collective' };
  }

  /** A DistributedError for `err`, saying which ranks are at fault (`err` itself if it is one). */
  failure(what: string, err: Error): DistributedError {
    if (err instanceof DistributedError) return err;
    const { failedRanks, explanation } = this.diagnose();
    // gloo prefixes its messages with its source file and line: of no use to the reader
    const cause = err.message.replace(/^\[[^\]\s]+:\d+\]\s*/, '');
    const message = `${what} on rank ${this.rank} of ${this.worldSize}: ${explanation}. ${cause}`;
    return new DistributedError(message, this.rank, this.worldSize, failedRanks);
  }

  /** Reduces `tensors` in place across the group: every rank ends with the result. */
  allReduce(tensors: Tensor | Tensor[], op: ReduceOp = 'sum'): void {
    const list = this.#checkTensors(tensors);
    checkChoice('op', op, REDUCE_OPS, 'sum');
    if (op === 'avg') {
      const bad = list.find((t) => !isFloatDtype(t.dtype));
      if (bad) throw new TypeError(`allReduce 'avg' needs floating-point tensors, got ${bad.dtype}`);
    }
    this.#run(`allReduce(${op})`, () => this.#native.allreduce(list.map((t) => t.handle), op === 'avg' ? 'sum' : op));
    if (op === 'avg') for (const t of list) t.div_(this.worldSize);
  }

  /** Copies `root`'s values of `tensors` into every rank's, in place. */
  broadcast(tensors: Tensor | Tensor[], root = 0): void {
    const list = this.#checkTensors(tensors);
    checkInteger('root', root, 0);
    if (root >= this.worldSize) throw new RangeError(`root ${root} is not a rank of this group (worldSize ${this.worldSize})`);
    this.#run('broadcast', () => this.#native.broadcast(list.map((t) => t.handle), root));
  }

  /** Every rank's `tensor`, in rank order (same shape and dtype on every rank). */
  allGather(tensor: Tensor): Tensor[] {
    this.#checkTensors(tensor);
    return this.#run('allGather', () => this.#native.allgather(tensor.handle)).map((h) => new Tensor(h));
  }

  /** Returns once every rank has called it. */
  barrier(): void {
    this.#run('barrier', () => this.#native.barrier());
  }

  /** @internal The native group, for the DDP reducer. */
  get handle(): NativeProcessGroup {
    return this.#native;
  }

  /** broadcast() of many tensors packed into buffers of up to `bufferBytes` (as DDP syncs a model). */
  broadcastCoalesced(tensors: Tensor[], root = 0, bufferBytes = 250 * 2 ** 20): void {
    const list = this.#checkTensors(tensors);
    checkInteger('root', root, 0);
    if (root >= this.worldSize) throw new RangeError(`root ${root} is not a rank of this group (worldSize ${this.worldSize})`);
    checkInteger('bufferBytes', bufferBytes, 1);
    this.#run('broadcastCoalesced', () => this.#native.broadcastCoalesced(list.map((t) => t.handle), root, bufferBytes));
  }

  /** Leaves the group and closes its connections; idempotent. */
  destroy(): void {
    this.#native.destroy();
  }

  /** The same as destroy(), for `using` and owners that dispose what they made. */
  dispose(): void {
    this.destroy();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

/** The tensors a backend reduces: CPU ones for Gloo, CUDA ones for NCCL; and how to name both. */
export function backendReduces(backend: Backend, device: string): boolean {
  return backend === 'nccl' ? device.startsWith('cuda') : device === 'cpu';
}
export const BACKEND_NAMES = { gloo: { backend: 'Gloo', tensors: 'CPU' }, nccl: { backend: 'NCCL', tensors: 'CUDA' } } as const;

function checkTensors(tensors: Tensor | Tensor[], backend: Backend): Tensor[] {
  const list = Array.isArray(tensors) ? tensors : [tensors];
  list.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw invalidArgument('a Tensor', Array.isArray(tensors) ? `tensors[${i}]` : 'tensor', t);
    const names = BACKEND_NAMES[backend];
    if (!backendReduces(backend, t.device)) throw new TypeError(`the ${names.backend} backend reduces ${names.tensors} tensors; got one on ${t.device}`);
  });
  return list;
}

/**
 * c10d prints each store retry and peer failure to stderr with a C++ backtrace; what matters of
 * them is in the DistributedError that follows. Unless TORCH_CPP_LOG_LEVEL asks for them (as it
 * does for a PyTorch program), only fatal messages are printed.
 */
function quietC10dLogging(env: NodeJS.ProcessEnv = process.env): void {
  if (env.TORCH_CPP_LOG_LEVEL === undefined || env.TORCH_CPP_LOG_LEVEL === '') native.setCppLogLevel(3);
}

/**
 * Joins the process group of this job (blocking until every rank has joined, or the timeout).
 * With no options it reads torchrun's / PyTorchJob's environment.
 */
export function initProcessGroup(options: ProcessGroupOptions = {}): ProcessGroup {
  const o = resolveProcessGroupOptions(options);
  const reason = distributedUnavailableReason(o.backend);
  if (reason) throw new DistributedError(reason, o.rank, o.worldSize);
  quietC10dLogging();
  let store;
  try {
    store = joinRendezvous(o, { signal: options.signal, onWaiting: options.onWaiting });
  } catch (err) {
    if (!(err instanceof JoinError)) throw err;
    throw new DistributedError(`rank ${o.rank} of ${o.worldSize} could not join the group: ${err.message}`, o.rank, o.worldSize, err.missing);
  }
  try {
    const group = new native.ProcessGroup(store, o);
    return new ProcessGroup(group, o.storeServedBy, o.backend, o.device);
  } catch (err) {
    throw new DistributedError(
      `rank ${o.rank} of ${o.worldSize} joined the group at ${o.host}:${o.port}, but its ${BACKEND_NAMES[o.backend].backend} connections to the other ranks failed: ${(err as Error).message.split('\n')[0]}`,
      o.rank,
      o.worldSize,
    );
  } finally {
    store.close(); // the group keeps its own reference
  }
}

/** Leaves `group` (as torch.distributed.destroy_process_group): the same as group.destroy(). */
export function destroyProcessGroup(group: ProcessGroup): void {
  group.destroy();
}
