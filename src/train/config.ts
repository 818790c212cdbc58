// A run's options: declared one by one in options.ts (type, default, check, flag, hparam), and
// here the checks of options together, which need libtorch (the device's availability, the
// precision's, the step's and the data-parallel strategy's conflicts). checkTrainOptions is the
// one place a run's options are checked.
import { checkDevice } from '../device';
import type { Label } from '../options/declare';
import { TrainingError } from './errors';
import { TRAIN_COMMAND_OPTIONS, TRAIN_OPTIONS, type TrainConfig, type TrainOptions } from './options';
import { Precision } from './precision';
import { checkStepRunnerOptions } from './step-runner';
import { checkStrategyOptions } from './strategy';

export { OPTIMIZER_KINDS, NO_DECAY_KINDS, TRAIN_OPTIONS } from './options';
export type { OptimizerKind, NoDecayKind, TrainConfig, TrainOptions } from './options';

/** The options that only make sense together, each part checking its own conflicts. */
function checkTogether(c: TrainConfig, label: Label): void {
  checkDevice(label('device'), c.device);
  Precision.check(c);
  checkStepRunnerOptions(c);
  checkStrategyOptions(c);
  if (c.optimizer !== 'sgd' && c.cudaGraph) throw new TrainingError(`cudaGraph (--cuda-graph) needs a capturable optimizer: SGD, not ${c.optimizer}`);
  if (c.optimizer !== 'sgd' && c.nesterov) throw new TrainingError(`nesterov (--nesterov) is SGD's, and the optimizer is ${c.optimizer}`);
  if (c.headLr !== undefined && c.lr === 0) throw new TrainingError(`headLr (--head-lr) is scheduled relative to lr (--lr), which is 0: give lr the backbone's peak rate`);
  if (c.batchSize === 1) throw new TrainingError('batchSize 1 cannot train: BatchNorm needs more than one value per channel in training mode; use 2 or more');
}

/** The training options with their checks together: what a run resolves its options with. */
export const TRAIN_SET = TRAIN_OPTIONS.with({}, { together: checkTogether });

/** The `train` command's options: the run's, and the command line's own (--json, the launcher's). */
export const TRAIN_COMMAND_SET = TRAIN_SET.with(TRAIN_COMMAND_OPTIONS);

/**
 * Every option checked, each alone (type, range) and together (conflicts), without starting
 * anything: train() and the CLI call it before a worker thread starts, so that bad usage is
 * reported as such. Returns the options with their defaults (given back as is when it is already
 * such a config).
 */
export function checkTrainOptions(options: TrainOptions | TrainConfig = {}): TrainConfig {
  return TRAIN_SET.resolve(options);
}
