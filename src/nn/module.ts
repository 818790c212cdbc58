// Module: a tree of named submodules, parameters and buffers, with PyTorch's naming
// ("layer1.0.bn1.running_mean"), train/eval modes and device moves.
import { checkDevice, type Device } from '../device';
import { noGrad } from '../autograd';
import { keep, type Tensor } from '../tensor';

export abstract class Module {
  #training = true;
  readonly #children = new Map<string, Module>();
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();

  abstract forward(input: Tensor): Tensor;

  /** Adds a child module under `name` and returns it. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name, this.#children);
    this.#children.set(name, module);
    return module;
  }

  /** Adds a learnable tensor under `name` (kept alive across tidy() scopes). */
  protected registerParameter(name: string, tensor: Tensor): Tensor {
    this.#checkName(name, this.#parameters);
    this.#parameters.set(name, keep(tensor));
    return tensor;
  }

  /** Adds a non-learnable state tensor (running statistics) under `name`. */
  protected registerBuffer(name: string, tensor: Tensor): Tensor {
    this.#checkName(name, this.#buffers);
    this.#buffers.set(name, keep(tensor));
    return tensor;
  }

  #checkName(name: string, map: Map<string, unknown>): void {
    if (!name || name.includes('.')) throw new TypeError(`Invalid module member name '${name}': must be non-empty without '.'`);
    if (map.has(name)) throw new Error(`'${name}' is already registered on ${this.constructor.name}`);
  }

  get training(): boolean {
    return this.#training;
  }

  /** Sets training mode here and in every submodule (BatchNorm batch statistics, etc.). */
  train(on = true): this {
    this.#training = on;
    this.onTrainingChanged(on);
    for (const child of this.#children.values()) child.train(on);
    return this;
  }

  /** Inference mode: BatchNorm uses running statistics. */
  eval(): this {
    return this.train(false);
  }

  /** Called when train()/eval() changes this module's own mode. */
  protected onTrainingChanged(_training: boolean): void {}

  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  /** This module and every descendant, with dotted paths ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.#children) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

  #collect(own: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, module] of this.namedModules()) {
      for (const [name, t] of own(module)) out.push([path ? `${path}.${name}` : name, t]);
    }
    return out;
  }

  namedParameters(): [string, Tensor][] {
    return this.#collect((m) => m.#parameters);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(): [string, Tensor][] {
    return this.#collect((m) => m.#buffers);
  }

  /** Parameters and buffers by PyTorch's state-dict key, in registration order. */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Number of elements over all parameters. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  /** Drops every parameter's gradient (as `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.clearGrad();
  }

  /** Moves parameters and buffers to `device` in place: handles to them stay valid. */
  to(device: Device): this {
    const target = checkDevice('device', device);
    for (const [, module] of this.namedModules()) module.moveOwnTensors(target);
    return this;
  }

  /**
   * Moves this module's own tensors. Tensors created in TypeScript are replaced by moved copies
   * (build optimizers after to(), as in PyTorch); native layers override this to move in place.
   */
  protected moveOwnTensors(device: Device): void {
    for (const map of [this.#parameters, this.#buffers]) {
      for (const [name, t] of map) {
        if (t.device === device) continue;
        const moved = keep(noGrad(() => t.to(device)));
        moved.requiresGrad = t.requiresGrad;
        map.set(name, moved);
        t.dispose();
      }
    }
  }
}
