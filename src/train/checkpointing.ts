// Keeping a run's state, as one of its callbacks: after each epoch's evaluation the model and
// optimizer are copied and written in the background (<arch>-last every epoch, <arch>-best when
// the accuracy improved) while the next epoch trains. One epoch's files at a time; a failed
// write stops the run at its next step; files named in a message are complete by then.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResNet } from '../models/resnet';
import type { Optimizer } from '../optim/optimizer';
import type { CheckpointEvent, TrainingCallback, ValidationResult } from './callbacks';
import { CHECKPOINT_FORMAT, saveCheckpointInBackground, type CheckpointMeta } from './checkpoint';
import { TrainingError } from './errors';
import type { WeightsEma } from './weights-ema';

/** Where a run's checkpoints go. */
export function checkpointFiles(dir: string, arch: string): { best: string; last: string; ema: string } {
  const file = (role: string) => path.join(dir, `${arch}-${role}.safetensors`);
  return { best: file('best'), last: file('last'), ema: file('ema') };
}

/** What describes the model (and how to resume) in every checkpoint of a run; the callback adds
 * the epoch, step and accuracies. */
export type RunDescription = Omit<CheckpointMeta, 'format' | 'version' | 'epoch' | 'step' | 'accuracy' | 'bestAccuracy' | 'role'>;

export interface CheckpointingParts {
  dir: string;
  arch: string;
  model: ResNet;
  optimizer: Optimizer;
  /** The weights EMA, if the run keeps one: its state goes in '-last', its weights in '-ema'. */
  ema: WeightsEma | null;
  /** Read at each write: the loss scale changes during the run. */
  describe: () => RunDescription;
  /** A file is complete on disk. */
  onWritten: (event: Omit<CheckpointEvent, 'type'>) => void;
}

export class CheckpointCallback implements TrainingCallback {
  readonly files: { best: string; last: string; ema: string };
  readonly #p: CheckpointingParts;
  #pending: Promise<void> = Promise.resolve();
  #failure: Error | null = null;
  #started = false;

  constructor(parts: CheckpointingParts) {
    this.#p = parts;
    this.files = checkpointFiles(parts.dir, parts.arch);
  }

  /** Waits until the previous epoch's files are complete, then copies the state (synchronously)
   * and starts writing it; resolves once the copy is taken. */
  async onValidationEnd(result: ValidationResult): Promise<void> {
    await this.settle();
    this.#started = true;
    const writing = this.#write(result);
    writing.catch((err: Error) => (this.#failure ??= err));
    this.#pending = writing;
  }

  /** However the run ends, its files are complete before the caller hears of it. */
  async onEnd(): Promise<void> {
    await this.#pending.catch(() => {});
  }

  /** A write that failed ends the run (called at every step boundary). */
  throwIfFailed(): void {
    if (this.#failure) throw new TrainingError(`writing a checkpoint failed: ${this.#failure.message}`);
  }

  /** Resolves when every write is complete; rejects with the first failure. */
  async settle(): Promise<void> {
    await this.#pending.catch(() => {});
    this.throwIfFailed();
  }

  /** What the run keeps if it stops now: only what exists (before the first epoch ends there is
   * no checkpoint of this run, unless it resumed one). */
  whatIsKept(): string {
    return this.#started || fs.existsSync(this.files.last) ? `the last good checkpoint is ${this.files.last}` : 'no checkpoint was written';
  }

  async #write(result: ValidationResult): Promise<void> {
    const { model, optimizer, ema } = this.#p;
    const meta: CheckpointMeta = {
      format: CHECKPOINT_FORMAT,
      version: 1,
      ...this.#p.describe(),
      epoch: result.epoch,
      step: result.step,
      accuracy: result.accuracy,
      bestAccuracy: result.bestAccuracy,
    };
    // Every file's bytes are copied here, before the first await.
    const writes = [saveCheckpointInBackground(this.files.last, model, { ...meta, role: 'last' }, { optimizer, ema: ema?.stateDict() })];
    if (result.improved) writes.push(saveCheckpointInBackground(this.files.best, model, { ...meta, role: 'best' }));
    if (ema) writes.push(saveCheckpointInBackground(this.files.ema, ema.model, { ...meta, role: 'ema', accuracy: result.emaAccuracy }));
    await Promise.all(writes);
    const written = { epoch: result.epoch, accuracy: result.accuracy };
    if (result.improved) this.#p.onWritten({ kind: 'best', file: this.files.best, ...written });
    this.#p.onWritten({ kind: 'last', file: this.files.last, ...written });
    if (ema) this.#p.onWritten({ kind: 'ema', file: this.files.ema, epoch: result.epoch, accuracy: result.emaAccuracy! });
  }
}
