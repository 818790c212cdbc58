// The curves of every run, without TensorBoard: `train` appends each step and epoch to
// <checkpoint dir>/metrics.ndjson (the lines `train --json` prints) and redraws
// <checkpoint dir>/curves.png at the end of every epoch. A resumed run keeps the lines up to its
// checkpoint and goes on from there, so the picture shows the whole run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic';
import type { EpochEvent, StartEvent, StepEvent, TrainingCallback } from '../train/callbacks';
import { eventJson } from '../train/event-json';
import { renderCurves, type RunHistory } from './curves';
import { historyFromNdjson, METRICS_FILE } from './history';
import { makeFolder, readRegularFile } from '../io/files';

export const CURVES_FILE = 'curves.png';

export class CurvesCallback implements TrainingCallback {
  readonly metricsFile: string;
  readonly curvesFile: string;
  #history: RunHistory = { steps: [], epochs: [] };
  /** metrics.ndjson, open for appending from start to end (a line per step: no open per step). */
  #fd: number | null = null;

  constructor(dir: string) {
    this.metricsFile = path.join(dir, METRICS_FILE);
    this.curvesFile = path.join(dir, CURVES_FILE);
  }

  onStart(event: StartEvent): void {
    makeFolder(path.dirname(this.metricsFile), 'checkpoint folder');
    let kept: string[] = [];
    if (event.startStep > 0 && fs.existsSync(this.metricsFile)) {
      // resumed: what the earlier run logged up to the checkpoint (it may have gone further)
      kept = readRegularFile(this.metricsFile, 'metrics log')
        .toString('utf8')
        .split('\n')
        .filter((line) => {
          if (!line.trim()) return false;
          try {
            const e = JSON.parse(line);
            return (e.type === 'step' && e.globalStep <= event.startStep) || (e.type === 'epoch' && e.epoch <= event.startEpoch);
          } catch {
            return false; // a line cut short by a killed run
          }
        });
    }
    const text = kept.map((l) => `${l}\n`).join('');
    writeFileAtomic(this.metricsFile, [Buffer.from(text)]);
    this.#history = historyFromNdjson(text, this.metricsFile);
    this.#fd = fs.openSync(this.metricsFile, 'a');
  }

  onStep(event: StepEvent): void {
    this.#history.steps.push({ step: event.globalStep, loss: event.loss, lr: event.lr });
    this.#append(event);
  }

  async onEpochEnd(event: EpochEvent): Promise<void> {
    this.#history.epochs.push({ epoch: event.epoch, accuracy: event.accuracy });
    this.#append(event);
    writeFileAtomic(this.curvesFile, [await renderCurves(this.#history)]);
  }

  onEnd(): void {
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }

  #append(event: StepEvent | EpochEvent): void {
    if (this.#fd !== null) fs.writeSync(this.#fd, `${JSON.stringify(eventJson(event))}\n`);
  }
}
