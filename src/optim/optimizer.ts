// What every optimizer is to the rest of the library (the loss scaler, the step runners, CUDA
// graphs, checkpoints, the training loop): they name this interface, never SGD or AdamW.
import { Tensor } from '../tensor';

export interface Optimizer {
  /** 'sgd', 'adamw', 'adam': what a checkpoint records, and resumes with. */
  readonly kind: string;
  /** The learning rate of the next step (a schedule sets it before each step). With parameter
   * groups, each group's rate is lr * groupInitialLr / baseLr (param-groups.ts). */
  lr: number;
  /** Its parameter groups (one when it was given a plain list): names, rates, weight decay. */
  readonly groups: readonly OptimizerGroup[];
  /** Whether its step can be captured in a CUDA graph (the rate read from the device). */
  readonly capturable: boolean;
  /** One update of every parameter that has a gradient. */
  step(): void;
  /** Drops the gradients of the optimised parameters. */
  zeroGrad(): void;
  /** The gradients of the optimised parameters that have one, by parameter name. */
  namedGradients(): [string, Tensor][];
  /** Its state (what a resumed run needs), as tensors by key. */
  stateDict(): Record<string, Tensor>;
  /** The parameters it holds state for (after a step: every one that had a gradient). */
  statefulParameters(): string[];
  /** Restores stateDict()'s output; keys and shapes must fit the parameters. */
  loadStateDict(state: Record<string, Tensor>): void;
  /** Where its state keys go in a checkpoint, after 'optimizer.' (SGD: 'momentum_buffer.'). */
  readonly checkpointPrefix: string;
  /** Frees its own state now; unusable afterwards. */
  dispose(): void;
}

/** A parameter group as an optimizer holds it (a read-only snapshot). */
export interface OptimizerGroup {
  /** The names of its parameters, in order. */
  readonly parameters: readonly string[];
  /** The rate of its next step. */
  readonly lr: number;
  /** Its rate when the optimizer's lr is the base lr (its `lr` option). */
  readonly initialLr: number;
  readonly weightDecay: number;
}

/** The checkpoint key prefix of every optimizer's state. */
export const OPTIMIZER_KEY_PREFIX = 'optimizer.';

/** [name, Tensor] pairs, as module.namedParameters() gives them. */
export function isNamedParameters(params: unknown): params is [string, Tensor][] {
  return Array.isArray(params) && params.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && p[1] instanceof Tensor);
}

/** The gradients of `params` that have one, by parameter name (every optimizer's namedGradients). */
export function namedGradientsOf(params: [string, Tensor][]): [string, Tensor][] {
  return params.flatMap(([name, p]) => {
    const grad = p.grad;
    return grad ? [[name, grad] as [string, Tensor]] : [];
  });
}

/** Drops the gradients of `params` (every optimizer's zeroGrad). */
export function clearGradients(params: [string, Tensor][]): void {
  for (const [, p] of params) p.clearGrad();
}
