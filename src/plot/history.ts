// Where a run's curves come from: its TensorBoard event files (`train --logdir`), the
// metrics.ndjson that `train` keeps next to its checkpoints, or the output of `train --json`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventFiles, readRun } from '../tensorboard/event-reader';
import { readRegularFile } from '../io/files';
import type { RunHistory } from './curves';

export const METRICS_FILE = 'metrics.ndjson';

/** Step and epoch lines of NDJSON text; other lines are skipped, and so is an unfinished last
 * line (a run still writing). A line that is not JSON throws, naming the file and line. */
export function historyFromNdjson(text: string, file = 'NDJSON log'): RunHistory {
  const history: RunHistory = { steps: [], epochs: [] };
  const lines = text.split('\n');
  const complete = lines.length - 1; // what follows the last newline is unfinished (or empty)
  for (let i = 0; i < complete; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${i + 1}: not a JSON line (expected the output of 'train --json' or a run's ${METRICS_FILE})`);
    }
    // null, numbers, strings and arrays are JSON too, but not events: skipped like other lines
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue;
    const e = parsed as Record<string, unknown>;
    if (e.type === 'step' && typeof e.globalStep === 'number' && typeof e.loss === 'number' && typeof e.lr === 'number') {
      history.steps.push({ step: e.globalStep, loss: e.loss, lr: e.lr });
    } else if (e.type === 'epoch' && typeof e.epoch === 'number' && typeof e.accuracy === 'number') {
      history.epochs.push({ epoch: e.epoch, accuracy: e.accuracy });
    }
  }
  return history;
}

/** The curves of a TensorBoard run folder written by `train --logdir`. */
export function historyFromEventFiles(runDir: string): RunHistory {
  const { scalars } = readRun(runDir);
  const loss = scalars.get('train/loss') ?? [];
  const lrAt = new Map((scalars.get('train/lr') ?? []).map((p) => [p.step, p.value]));
  return {
    steps: loss.map((p) => ({ step: p.step, loss: p.value, lr: lrAt.get(p.step) ?? NaN })),
    epochs: (scalars.get('eval/accuracy') ?? []).map((p, i) => ({ epoch: i + 1, accuracy: p.value })),
  };
}

/** A run folder (event files, or a checkpoint folder holding metrics.ndjson) or an NDJSON file. */
export function loadHistory(source: string): RunHistory {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    throw new Error(`${source}: no such file or folder (give a --logdir run folder, a checkpoint folder, or a 'train --json' log)`);
  }
  if (stat.isDirectory()) {
    if (eventFiles(source).length > 0) return historyFromEventFiles(source);
    const metrics = path.join(source, METRICS_FILE);
    if (fs.existsSync(metrics)) return historyFromNdjson(readRegularFile(metrics, 'metrics log').toString('utf8'), metrics);
    throw new Error(`${source}: no TensorBoard event files (events.out.tfevents.*) and no ${METRICS_FILE} in this folder`);
  }
  // a FIFO would block and /dev/zero never end: only a regular file is read
  return historyFromNdjson(readRegularFile(source, 'NDJSON log').toString('utf8'), source);
}
