// What a training run tells its caller, in one place: the tutorial's lines and the typed events
// (from the main rank only). The loop reports facts (a step's loss, an epoch's summary); the log
// decides what is printed and emitted.
import type { CallbackList, CheckpointEvent, RunOutcome, StartEvent, ValidationResult } from './callbacks';
import type { TrainEvent } from './events';

const pad3 = (n: number) => String(n).padStart(3, ' ');

/** The tutorial's step line. */
export function stepLine(epoch: number, epochs: number, step: number, steps: number, loss: number): string {
  return `Epoch: [${pad3(epoch)}/${pad3(epochs)}], Steps: [${pad3(step)}/${pad3(steps)}], Train Loss: [${loss.toFixed(3)}]`;
}

/** The tutorial's epoch summary line. */
export function epochLine(epoch: number, epochs: number, averageLoss: number, accuracy: number): string {
  return `Epoch: [${pad3(epoch)}/${pad3(epochs)}], Average Train Loss: [${averageLoss.toFixed(3)}], Accuracy: [${accuracy.toFixed(3)}]`;
}

/** The tutorial's closing line. */
export function finalLine(bestAccuracy: number, file: string): string {
  return `End of validation the best Accuracy is:  ${bestAccuracy.toFixed(3)}, save the best ckpt file in ${file}`;
}

export interface StepReport {
  epoch: number;
  step: number;
  globalStep: number;
  lr: number;
  /** Images trained on in the epoch up to this step (all ranks). */
  images: number;
}

type EpochEvent = Extract<TrainEvent, { type: 'epoch' }>;

export class RunLog {
  readonly #line: (line: string) => void;
  readonly #callbacks: CallbackList | null;
  readonly #epochs: number;
  readonly #logEvery: number;

  /** Lines go to onLine (default: the console), events to the callbacks; neither off the main rank. */
  constructor(options: { speaks: boolean; onLine?: (line: string) => void; callbacks: CallbackList; epochs: number; logEvery: number }) {
    this.#line = !options.speaks ? () => {} : (options.onLine ?? ((l: string) => console.log(l)));
    this.#callbacks = options.speaks ? options.callbacks : null;
    this.#epochs = options.epochs;
    this.#logEvery = options.logEvery;
  }

  line(text: string): void {
    this.#line(text);
  }

  async start(event: Omit<StartEvent, 'type'>): Promise<void> {
    await this.#callbacks?.start({ type: 'start', ...event });
  }

  checkpoint(event: Omit<CheckpointEvent, 'type'>): void {
    this.#callbacks?.checkpoint({ type: 'checkpoint', ...event });
  }

  /** A step whose loss has been read: its event, and its line on step 1, every logEvery and the last. */
  step(s: StepReport, loss: number, lossScale: number | null, stepsPerEpoch: number, elapsedSeconds: number): void {
    this.#callbacks?.step({
      type: 'step',
      epoch: s.epoch,
      epochs: this.#epochs,
      step: s.step,
      stepsPerEpoch,
      globalStep: s.globalStep,
      loss,
      lr: s.lr,
      imagesPerSecond: s.images / elapsedSeconds,
      etaSeconds: ((stepsPerEpoch - s.step) * elapsedSeconds) / s.step,
      lossScale,
    });
    if (s.step === 1 || s.step % this.#logEvery === 0 || s.step === stepsPerEpoch) this.#line(stepLine(s.epoch, this.#epochs, s.step, stepsPerEpoch, loss));
  }

  /** The epoch's summary between dashes (printed before its checkpoints are written). */
  epochSummary(epoch: number, averageLoss: number, accuracy: number, skippedSteps: number, steps: number, lossScale: number | null, emaAccuracy: number | null = null): void {
    this.#line('-'.repeat(50));
    this.#line(epochLine(epoch, this.#epochs, averageLoss, accuracy));
    if (emaAccuracy !== null) this.#line(`Epoch: [${pad3(epoch)}/${pad3(this.#epochs)}], EMA Accuracy: [${emaAccuracy.toFixed(3)}]`);
    if (skippedSteps > 0) this.#line(`${skippedSteps} of ${steps} steps skipped: float16 gradients overflowed (loss scale now ${lossScale})`);
    this.#line('-'.repeat(50));
  }

  /** After an epoch's evaluation: the callbacks keep the run's state (checkpoints). */
  async validationEnd(result: ValidationResult): Promise<void> {
    await this.#callbacks?.validationEnd(result);
  }

  /** The epoch's event (after its checkpoints, whose time it includes). */
  async epochEvent(event: Omit<EpochEvent, 'type' | 'epochs'>): Promise<void> {
    await this.#callbacks?.epochEnd({ type: 'epoch', epochs: this.#epochs, ...event });
  }

  /** The closing lines and the 'done' event. */
  async finish(bestAccuracy: number, bestFile: string, bestWritten: boolean, steps: number): Promise<void> {
    this.#line('='.repeat(80));
    // Name only a file that exists: a resumed run whose epochs never beat its earlier best wrote none here.
    this.#line(
      bestWritten
        ? finalLine(bestAccuracy, bestFile)
        : `End of validation the best Accuracy is:  ${bestAccuracy.toFixed(3)} (from the resumed run; no epoch of this run improved on it, so ${bestFile} was not written)`,
    );
    await this.#callbacks?.end({ status: 'done', event: { type: 'done', bestAccuracy, bestCheckpoint: bestFile, epochs: this.#epochs, steps } });
  }

  /** A run that did not finish: the callbacks hear how it ended. */
  async abandon(outcome: Exclude<RunOutcome, { status: 'done' }>): Promise<void> {
    await this.#callbacks?.end(outcome);
  }
}
