// The checkpoint folder of a run, checked before any training: it must take files (found out
// after an epoch of work is too late), temporaries left by a killed write are removed, and a
// previous run's checkpoints are never replaced by accident.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TrainingError } from './errors';
import { makeFolder } from '../io/files';

export interface RunFolderOptions {
  /** The run continues from a checkpoint: its folder's files are meant to be replaced. */
  resume?: string;
  /** Replace a previous run's checkpoints. */
  overwrite: boolean;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temporary files (`.<name>.tmp-<pid>-<random>`, see io/atomic.ts) of `names` whose writer is gone. */
export function staleTemporaries(dir: string, names: string[]): string[] {
  return fs.readdirSync(dir).filter((entry) =>
    names.some((name) => {
      const prefix = `.${name}.tmp-`;
      if (!entry.startsWith(prefix)) return false;
      const pid = Number(entry.slice(prefix.length).split('-')[0]);
      return Number.isInteger(pid) && pid > 0 && (pid === process.pid ? false : !processIsAlive(pid));
    }),
  );
}

export function prepareRunFolder(dir: string, names: string[], options: RunFolderOptions): void {
  try {
    makeFolder(dir, 'checkpoint folder');
  } catch (err) {
    throw new TrainingError(`${(err as Error).message}; pass another --checkpoint-dir`);
  }
  try {
    const probe = path.join(dir, `.write-probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(probe, 'resnet-native');
    fs.rmSync(probe);
  } catch (err) {
    throw new TrainingError(`checkpoint folder ${dir} cannot take files: ${(err as Error).message}; pass another --checkpoint-dir`);
  }
  for (const entry of staleTemporaries(dir, names)) fs.rmSync(path.join(dir, entry), { force: true });
  if (options.resume || options.overwrite) return;
  const existing = names.filter((name) => fs.existsSync(path.join(dir, name)));
  if (existing.length > 0) {
    const last = names.find((n) => n.includes('-last.')) ?? existing[0];
    throw new TrainingError(
      `checkpoint folder ${dir} already holds a run's checkpoints (${existing.join(', ')}): pass --resume ${path.join(dir, last)} ` +
        '(API: resume) to continue that run, --overwrite (overwrite: true) to replace it, or another --checkpoint-dir',
    );
  }
}

/** The TensorBoard folder, made before any training: one that cannot be made is an error now. */
export function prepareLogFolder(dir: string): void {
  try {
    makeFolder(dir, 'TensorBoard log folder');
  } catch (err) {
    throw new TrainingError(`${(err as Error).message}; pass another --logdir`);
  }
}
