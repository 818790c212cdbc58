// `train --logdir`: a training callback that writes the run for TensorBoard. Per step: train/loss,
// train/lr, train/images_per_second (and train/loss_scale when scaling); per epoch: eval/accuracy (and per class), eval/best_accuracy,
// train/average_loss; images: the training samples at the start,
// the prediction figure of each new best model; the configuration as text and as the HParams
// tab's session. A resumed run writes a new file in the same folder that continues the curves.
import { sampleGrid } from '../data/show';
import { predictionFigure } from '../inference/visualize';
import type { EpochEvent, RunContext, RunOutcome, StartEvent, StepEvent, TrainingCallback } from '../train/callbacks';
import { SummaryWriter, type HparamValue } from './summary-writer';
import { TRAIN_OPTIONS, type TrainConfig } from '../train/options';

export interface TensorBoardCallbackOptions {
  /** Longest time (s) a value waits before it is written; default 2. */
  flushSeconds?: number;
}

/** The run's hyperparameters: the plain values of the options declared as such (not those that
 * say where and how a run is kept or printed: train/options.ts). */
export function hparamsOf(config: Readonly<Record<string, unknown>>): Record<string, HparamValue> {
  return TRAIN_OPTIONS.hparams(config as TrainConfig);
}

/** The configuration as a Markdown table (TensorBoard's Text tab renders it). */
export function configMarkdown(config: Readonly<Record<string, unknown>>): string {
  const rows = Object.entries(config)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `| ${k} | ${JSON.stringify(v).replace(/\|/g, '\\|')} |`);
  return ['| option | value |', '| --- | --- |', ...rows].join('\n');
}

export class TensorBoardCallback implements TrainingCallback {
  readonly logDir: string;
  readonly #options: TensorBoardCallbackOptions;
  #writer: SummaryWriter | null = null;
  #step = 0;
  #best = -Infinity;
  #data: { data?: string; seed: number } = { seed: 0 };

  constructor(logDir: string, options: TensorBoardCallbackOptions = {}) {
    this.logDir = logDir;
    this.#options = options;
  }

  /** The event file being written (null before the run starts). */
  get file(): string | null {
    return this.#writer?.file ?? null;
  }

  async onStart(event: StartEvent, run: RunContext): Promise<void> {
    this.#step = event.startStep;
    const resumed = event.startStep > 0;
    this.#writer = new SummaryWriter(this.logDir, { flushSeconds: this.#options.flushSeconds, purgeStep: resumed ? event.startStep + 1 : undefined });
    const config = run.config;
    this.#data = { data: typeof config.data === 'string' ? config.data : undefined, seed: typeof config.seed === 'number' ? config.seed : 0 };
    this.#best = typeof event.bestAccuracy === 'number' ? event.bestAccuracy : -Infinity;
    this.#writer.addText('config', configMarkdown(config), event.startStep);
    if (!resumed) {
      this.#writer.addHparams(hparamsOf(config), ['eval/best_accuracy', 'eval/accuracy', 'train/average_loss']);
      const samples = await sampleGrid({ data: this.#data.data, seed: this.#data.seed, imageSize: run.input.imageSize });
      this.#writer.addImage('train/samples', samples.png, 0);
    }
    this.#writer.flush();
  }

  onStep(event: StepEvent): void {
    const w = this.#writer!;
    this.#step = event.globalStep;
    w.addScalar('train/loss', event.loss, event.globalStep);
    w.addScalar('train/lr', event.lr, event.globalStep);
    w.addScalar('train/images_per_second', event.imagesPerSecond, event.globalStep);
    if (event.lossScale !== null) w.addScalar('train/loss_scale', event.lossScale, event.globalStep);
  }

  async onEpochEnd(event: EpochEvent, run: RunContext): Promise<void> {
    const w = this.#writer!;
    const step = this.#step;
    w.addScalar('eval/accuracy', event.accuracy, step);
    if (event.emaAccuracy !== null) w.addScalar('eval/ema_accuracy', event.emaAccuracy, step);
    event.perClassAccuracy.forEach((a, i) => w.addScalar(`eval/accuracy/${run.classNames[i] ?? i}`, a, step));
    w.addScalar('train/average_loss', event.averageLoss, step);
    if (event.accuracy > this.#best) {
      this.#best = event.accuracy;
      // (the input as the run's checkpoints record it: size, mean and std, evaluation, split)
      const figure = await predictionFigure(run.model, { ...run.input, classNames: run.classNames }, { data: this.#data.data, seed: this.#data.seed });
      w.addImage('eval/predictions_of_best_model', figure.png, step);
    }
    w.addScalar('eval/best_accuracy', this.#best, step);
    w.flush();
  }

  onEnd(outcome: RunOutcome): void {
    const w = this.#writer;
    if (!w) return;
    w.endSession(outcome.status === 'done' ? 'success' : 'failure');
    w.close();
  }
}
