// `train --nproc-per-node N`: starts one process per rank running the same command, with the
// environment torchrun would give it (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT), forwards Ctrl-C / SIGTERM / SIGHUP to them, and ends when they do:
// with the first failing rank's exit code, after stopping the others.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import { freePort } from '../distributed/ports';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** undefined on one node: a free port is picked. */
  masterPort?: number;
}

/** In a rank's environment: the file descriptor of a pipe from its launcher. Nothing is ever
 * written to it; it closes when the launcher's process ends, however it ends (kill -9 too),
 * which is how a rank learns that its launcher is gone (ranks run in process groups of their
 * own, so no signal of the terminal's reaches them). */
export const LAUNCHER_PIPE_ENV = 'RESNET_NATIVE_LAUNCHER_FD';
const LAUNCHER_PIPE_FD = 3;

/** In a rank started by launchRanks: calls `gone` once, when the launcher's process has ended. */
export function watchLauncher(gone: () => void): void {
  if (process.env[LAUNCHER_PIPE_ENV] !== String(LAUNCHER_PIPE_FD)) return;
  let pipe: net.Socket;
  try {
    pipe = new net.Socket({ fd: LAUNCHER_PIPE_FD, readable: true, writable: false });
  } catch {
    return; // not a pipe here (the variable was inherited by something else)
  }
  pipe.on('error', () => {});
  pipe.once('close', gone);
  pipe.resume();
  pipe.unref(); // the rank's life is its training's, not the pipe's
}

/** The launcher's own options, removed from what each rank is given. */
export const LAUNCH_FLAGS = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'];

export function rankArguments(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = LAUNCH_FLAGS.find((f) => argv[i] === f || argv[i].startsWith(`${f}=`));
    if (!flag) out.push(argv[i]);
    else if (argv[i] === flag) i += 1; // its value
  }
  return out;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** How long the other ranks get to stop after one failed, before they are killed. */
const GRACE_MS = 15_000;

/** Runs the ranks of this node; resolves with the exit code the launcher should end with. */
export async function launchRanks(script: string, args: string[], o: LaunchOptions, log: (line: string) => void): Promise<number> {
  const worldSize = o.nprocPerNode * o.nnodes;
  const masterPort = o.masterPort ?? (o.nnodes === 1 ? await freePort(o.masterAddr) : 29500);
  // Each rank computes with its share of the cores unless --threads says otherwise.
  const threads = args.some((a) => a === '--threads' || a.startsWith('--threads=')) ? [] : ['--threads', String(Math.max(1, Math.floor(os.availableParallelism() / o.nprocPerNode)))];
  log(`launching ${o.nprocPerNode} rank(s) on node ${o.nodeRank} of ${o.nnodes} (world size ${worldSize}, rendezvous ${o.masterAddr}:${masterPort})`);
  const children: ChildProcess[] = [];
  const exits: Promise<{ rank: number; code: number }>[] = [];
  for (let local = 0; local < o.nprocPerNode; local++) {
    const rank = o.nodeRank * o.nprocPerNode + local;
    const child = spawn(process.execPath, [script, 'train', ...args, ...threads], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      // Its own process group: Ctrl-C in the terminal reaches the launcher only, which passes it
      // on once (a rank that got it twice would quit at once instead of at a step boundary).
      detached: true,
      env: {
        ...process.env,
        RANK: String(rank),
        LOCAL_RANK: String(local),
        WORLD_SIZE: String(worldSize),
        LOCAL_WORLD_SIZE: String(o.nprocPerNode),
        MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(masterPort),
        [LAUNCHER_PIPE_ENV]: String(LAUNCHER_PIPE_FD),
      },
    });
    // Held open, unused, for the rank's whole life (see watchLauncher).
    (child.stdio[LAUNCHER_PIPE_FD] as net.Socket | null)?.unref();
    children.push(child);
    exits.push(
      new Promise((resolve) =>
        child.once('exit', (code, signal) => resolve({ rank, code: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 1) : 1) })),
      ),
    );
  }
  let interrupted = false;
  const forward = (signal: (typeof SIGNALS)[number]) => {
    interrupted = true;
    for (const child of children) if (child.exitCode === null) child.kill(signal);
  };
  for (const signal of SIGNALS) process.on(signal, forward);
  try {
    let failed: { rank: number; code: number } | null = null;
    let killer: NodeJS.Timeout | null = null;
    const results = await Promise.all(
      exits.map((exit) =>
        exit.then((r) => {
          if (r.code !== 0 && !failed) {
            failed = r;
            // Ranks stopping on a signal passed on to them all finish their step and their
            // checkpoint: a second signal would cut that short.
            if (!interrupted) {
              log(`rank ${r.rank} exited with code ${r.code}: stopping the other ranks`);
              for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
              killer = setTimeout(() => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')), GRACE_MS);
            }
          }
          return r;
        }),
      ),
    );
    if (killer) clearTimeout(killer);
    const first = failed as { rank: number; code: number } | null;
    return first ? first.code : (results.find((r) => r.code !== 0)?.code ?? 0);
  } finally {
    for (const signal of SIGNALS) process.removeListener(signal, forward);
  }
}
