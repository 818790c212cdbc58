// What a training run reports: its events and their parts. A leaf module (it imports nothing of
// the run), so that the loop, its callbacks and the CLI all depend on it and not on each other.

export type TrainEvent =
  | {
      type: 'start';
      config: Record<string, unknown>;
      stepsPerEpoch: number;
      synthetic: boolean;
      /** Epochs and steps already done (a resumed run), and the best accuracy so far (null: none). */
      startEpoch: number;
      startStep: number;
      bestAccuracy: number | null;
    }
  | {
      type: 'step';
      epoch: number;
      epochs: number;
      step: number;
      stepsPerEpoch: number;
      globalStep: number;
      loss: number;
      lr: number;
      imagesPerSecond: number;
      etaSeconds: number;
      /** The loss scale after this step's update (loss scaling on), else null. */
      lossScale: number | null;
    }
  | {
      type: 'epoch';
      epoch: number;
      epochs: number;
      averageLoss: number;
      accuracy: number;
      perClassAccuracy: number[];
      /** The accuracy of the weights' moving average (emaDecay), else null. */
      emaAccuracy: number | null;
      lr: number;
      skippedSteps: number;
      lossScale: number | null;
      /** Where the epoch's time went: waiting for batches, training steps, evaluation, checkpoint writes. */
      seconds: EpochSeconds;
      /** Intra-op threads of the training thread at the end of the epoch. */
      intraOpThreads: number;
    }
  | { type: 'checkpoint'; kind: 'best' | 'last' | 'ema'; file: string; epoch: number; accuracy: number }
  | { type: 'done'; bestAccuracy: number; bestCheckpoint: string; epochs: number; steps: number };

export interface EpochSeconds {
  data: number;
  step: number;
  eval: number;
  checkpoint: number;
  total: number;
}
