// Learning-rate schedules: each a function of the step (what a run uses, however long it is),
// and as a list of one rate per step.
import { checkInteger, checkNumber } from '../errors';

/** A learning rate for each optimizer step, counted from 0. */
export type LrSchedule = (step: number) => number;

/**
 * The tutorial's cosine_decay_lr: constant within an epoch,
 * lr[i] = minLr + 0.5 * (maxLr - minLr) * (1 + cos(pi * min(floor(i / stepsPerEpoch), decayEpoch) / decayEpoch)).
 */
export function cosineDecaySchedule(minLr: number, maxLr: number, stepsPerEpoch: number, decayEpoch: number): LrSchedule {
  checkNumber('minLr', minLr, 0);
  checkNumber('maxLr', maxLr, 0);
  checkInteger('stepsPerEpoch', stepsPerEpoch, 1);
  checkInteger('decayEpoch', decayEpoch, 1);
  return (i) => {
    const epoch = Math.min(Math.floor(i / stepsPerEpoch), decayEpoch);
    return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos((Math.PI * epoch) / decayEpoch));
  };
}

/** Per-step cosine from maxLr to minLr over `totalSteps` after a linear warm-up of `warmupSteps` from 0. */
export function warmupCosineSchedule(minLr: number, maxLr: number, totalSteps: number, warmupSteps = 0): LrSchedule {
  checkInteger('warmupSteps', warmupSteps, 0);
  return (i) => {
    if (i < warmupSteps) return (maxLr * (i + 1)) / warmupSteps;
    const t = Math.min(1, (i - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos(Math.PI * t));
  };
}

/** lr * gamma^floor(epoch / stepEpochs). */
export function stepDecaySchedule(lr: number, gamma: number, stepEpochs: number, stepsPerEpoch: number): LrSchedule {
  checkInteger('stepEpochs', stepEpochs, 1);
  return (i) => lr * gamma ** Math.floor(Math.floor(i / stepsPerEpoch) / stepEpochs);
}

function steps(schedule: LrSchedule, totalSteps: number): number[] {
  checkInteger('totalSteps', totalSteps, 0);
  return Array.from({ length: totalSteps }, (_, i) => schedule(i));
}

/** cosineDecaySchedule as the tutorial's list of `totalSteps` rates. */
export function cosineDecayLr(minLr: number, maxLr: number, totalSteps: number, stepsPerEpoch: number, decayEpoch: number): number[] {
  return steps(cosineDecaySchedule(minLr, maxLr, stepsPerEpoch, decayEpoch), totalSteps);
}

/** warmupCosineSchedule as a list of `totalSteps` rates. */
export function warmupCosineLr(minLr: number, maxLr: number, totalSteps: number, warmupSteps = 0): number[] {
  return steps(warmupCosineSchedule(minLr, maxLr, totalSteps, warmupSteps), totalSteps);
}

/** stepDecaySchedule as a list of `totalSteps` rates. */
export function stepDecayLr(lr: number, gamma: number, stepEpochs: number, totalSteps: number, stepsPerEpoch: number): number[] {
  return steps(stepDecaySchedule(lr, gamma, stepEpochs, stepsPerEpoch), totalSteps);
}
