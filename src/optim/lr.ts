// Learning-rate schedules, each a list of one rate per step.
import { checkInteger, checkNumber } from '../errors';

/**
 * The tutorial's cosine_decay_lr: constant within an epoch,
 * lr[i] = minLr + 0.5 * (maxLr - minLr) * (1 + cos(pi * min(floor(i / stepsPerEpoch), decayEpoch) / decayEpoch)).
 */
export function cosineDecayLr(minLr: number, maxLr: number, totalSteps: number, stepsPerEpoch: number, decayEpoch: number): number[] {
  checkNumber('minLr', minLr, 0);
  checkNumber('maxLr', maxLr, 0);
  checkInteger('totalSteps', totalSteps, 0);
  checkInteger('stepsPerEpoch', stepsPerEpoch, 1);
  checkInteger('decayEpoch', decayEpoch, 1);
  return Array.from({ length: totalSteps }, (_, i) => {
    const epoch = Math.min(Math.floor(i / stepsPerEpoch), decayEpoch);
    return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos((Math.PI * epoch) / decayEpoch));
  });
}

/** Per-step cosine from maxLr to minLr after a linear warm-up of `warmupSteps` from 0. */
export function warmupCosineLr(minLr: number, maxLr: number, totalSteps: number, warmupSteps = 0): number[] {
  checkInteger('warmupSteps', warmupSteps, 0);
  return Array.from({ length: totalSteps }, (_, i) => {
    if (i < warmupSteps) return (maxLr * (i + 1)) / warmupSteps;
    const t = (i - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    return minLr + 0.5 * (maxLr - minLr) * (1 + Math.cos(Math.PI * t));
  });
}

/** lr * gamma^floor(epoch / stepEpochs), per step. */
export function stepDecayLr(lr: number, gamma: number, stepEpochs: number, totalSteps: number, stepsPerEpoch: number): number[] {
  checkInteger('stepEpochs', stepEpochs, 1);
  return Array.from({ length: totalSteps }, (_, i) => lr * gamma ** Math.floor(Math.floor(i / stepsPerEpoch) / stepEpochs));
}
