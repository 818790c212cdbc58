// Callbacks: code that watches a training run, in the spirit of Lightning's callbacks and Keras'.
// The run log's events, the caller's onEvent, and anything a user adds (a TensorBoard writer, a
// progress bar, an early-stopping rule) see the same moments in the same order, on the main
// rank only. A callback that throws ends the run with its error.
import type { Module } from '../nn/module';
import type { TrainEvent } from './events';
import type { CheckpointMeta } from './checkpoint';

export type StartEvent = Extract<TrainEvent, { type: 'start' }>;
export type StepEvent = Extract<TrainEvent, { type: 'step' }>;
export type EpochEvent = Extract<TrainEvent, { type: 'epoch' }>;
export type CheckpointEvent = Extract<TrainEvent, { type: 'checkpoint' }>;
export type DoneEvent = Extract<TrainEvent, { type: 'done' }>;

/** What a callback can look at during a run (the model is the one being trained: do not change it). */
export interface RunContext {
  readonly model: Module;
  readonly classNames: readonly string[];
  /** The run's options, defaults filled in. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The model's input as the run's checkpoints record it (size, mean and std; own images: the
   * evaluation's resize and the data's record). */
  readonly input: InputOfRun;
}

/** See RunContext.input. */
export type InputOfRun = Pick<CheckpointMeta, 'imageSize' | 'mean' | 'std' | 'evalTransform' | 'data'>;

/** An epoch's evaluation, as onValidationEnd hears it (before the epoch's event). */
export interface ValidationResult {
  /** Epochs completed (1-based). */
  epoch: number;
  /** Optimizer steps taken so far. */
  step: number;
  accuracy: number;
  /** Whether this epoch's accuracy beats every earlier one of the run (and of the run it resumed). */
  improved: boolean;
  /** The best accuracy so far, this epoch's included. */
  bestAccuracy: number;
  /** The accuracy of the weights EMA (emaDecay), else null. */
  emaAccuracy: number | null;
}

/** How a run ended, as onEnd hears it. */
export type RunOutcome = { status: 'done'; event: DoneEvent } | { status: 'cancelled' | 'failed'; error: unknown };

export interface TrainingCallback {
  /** Before the first step (after the model is built and a checkpoint resumed). */
  onStart?(event: StartEvent, run: RunContext): void | Promise<void>;
  /** A step whose loss has been read (synchronous: it is on the training path). */
  onStep?(event: StepEvent, run: RunContext): void;
  /** After an epoch's evaluation, before its event: where a run's state is kept (checkpoints are
   * written here); awaited, and its time counted as the epoch's checkpoint seconds. */
  onValidationEnd?(result: ValidationResult, run: RunContext): void | Promise<void>;
  /** After an epoch's evaluation (its checkpoints are being written); awaited before the next epoch. */
  onEpochEnd?(event: EpochEvent, run: RunContext): void | Promise<void>;
  /** A checkpoint file is complete on disk (written in the background while the next epoch trains). */
  onCheckpoint?(event: CheckpointEvent, run: RunContext): void;
  /** The run is over: finished, cancelled or failed. The place to flush and close. */
  onEnd?(outcome: RunOutcome, run: RunContext): void | Promise<void>;
}

/** A callback that hands every event to `onEvent` (train()'s and runTraining's hook). */
export function eventCallback(onEvent: (event: TrainEvent) => void): TrainingCallback {
  return {
    onStart: onEvent,
    onStep: onEvent,
    onEpochEnd: onEvent,
    onCheckpoint: onEvent,
    onEnd: (outcome) => {
      if (outcome.status === 'done') onEvent(outcome.event);
    },
  };
}

/** The run's callbacks, called in order; none before the context is attached (the model exists). */
export class CallbackList {
  readonly #callbacks: readonly TrainingCallback[];
  #run: RunContext | null = null;

  constructor(callbacks: readonly TrainingCallback[]) {
    this.#callbacks = callbacks;
  }

  attach(run: RunContext): void {
    this.#run = run;
  }

  #context(): RunContext {
    if (!this.#run) throw new Error('internal: a training callback was called before the run context existed');
    return this.#run;
  }

  async start(event: StartEvent): Promise<void> {
    for (const c of this.#callbacks) await c.onStart?.(event, this.#context());
  }

  step(event: StepEvent): void {
    for (const c of this.#callbacks) c.onStep?.(event, this.#context());
  }

  async validationEnd(result: ValidationResult): Promise<void> {
    for (const c of this.#callbacks) await c.onValidationEnd?.(result, this.#context());
  }

  async epochEnd(event: EpochEvent): Promise<void> {
    for (const c of this.#callbacks) await c.onEpochEnd?.(event, this.#context());
  }

  checkpoint(event: CheckpointEvent): void {
    for (const c of this.#callbacks) c.onCheckpoint?.(event, this.#context());
  }

  /**
   * Every callback hears the end, even when one of them throws; the first error is thrown
   * afterwards (on a run that failed anyway, the run's own error is what the caller gets).
   */
  async end(outcome: RunOutcome): Promise<void> {
    if (!this.#run) return;
    let first: unknown = null;
    for (const c of this.#callbacks) {
      try {
        await c.onEnd?.(outcome, this.#run);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== null) throw first;
  }
}
