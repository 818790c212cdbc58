// The error of a training run that could not start or go on (bad options, a folder that cannot
// take checkpoints, a loss that became NaN, cancellation).
export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}
