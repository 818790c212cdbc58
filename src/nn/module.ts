// Module: a tree of named submodules, parameters and buffers, with PyTorch's naming
// ("layer1.0.bn1.running_mean"), train/eval modes and device moves.
import { checkDevice, type Device } from '../device';
import { noGrad } from '../autograd';
import { checkChoice } from '../errors';
import { FLOAT_DTYPES, Tensor, isFloatDtype, keep, type Dtype, type FloatDtype, type MemoryFormat } from '../tensor';
import { StateDictError } from '../error-classes';
export { StateDictError };

export interface LoadStateDictOptions {
  /** Require exactly the module's keys (after `skip`); default true. */
  strict?: boolean;
  /** Key prefixes to leave out on both sides, e.g. ['fc.']. */
  skip?: string[];
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
  loaded: number;
}

function dtypeKind(dtype: Dtype): string {
  return isFloatDtype(dtype) ? 'float' : dtype === 'bool' ? 'bool' : 'int';
}

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

  /** Swaps the child module registered under `name` (same place in the state dict). */
  protected replaceModule<M extends Module>(name: string, module: M): M {
    if (!this.#children.has(name)) throw new Error(`No module '${name}' on ${this.constructor.name} to replace`);
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

  /** Parameters and buffers by PyTorch's state-dict key, in PyTorch's order (module by module). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.#collect((m) => new Map([...m.#parameters, ...m.#buffers])));
  }

  /**
   * Copies `dict` into this module's parameters and buffers, matched by state-dict key.
   * Everything is checked first (missing / unexpected keys with `strict`, shapes, dtypes) and
   * nothing is copied unless all of it fits: the module is never left half-loaded.
   * `skip` lists key prefixes to leave out on both sides (['fc.'] to keep a new head).
   */
  loadStateDict(dict: Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const skipped = (key: string) => (options.skip ?? []).some((prefix) => key.startsWith(prefix));
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !skipped(k) && !(k in dict));
    const unexpected = Object.keys(dict).filter((k) => !skipped(k) && !(k in own));
    const problems: string[] = [];
    if (strict && missing.length > 0) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length > 0) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    const pairs: [Tensor, Tensor][] = [];
    for (const [key, target] of Object.entries(own)) {
      const source = dict[key];
      if (skipped(key) || source === undefined) continue;
      if (!(source instanceof Tensor)) {
        problems.push(`${key} is not a Tensor (${source === null ? 'null' : typeof source})`);
      } else if (source.shape.join(',') !== target.shape.join(',')) {
        problems.push(`shape mismatch for ${key}: checkpoint [${source.shape.join(', ')}], model [${target.shape.join(', ')}]`);
      } else if (dtypeKind(source.dtype) !== dtypeKind(target.dtype)) {
        problems.push(`unsupported dtype for ${key}: checkpoint ${source.dtype}, model ${target.dtype}`);
      } else {
        pairs.push([target, source]);
      }
    }
    if (problems.length > 0) {
      throw new StateDictError(`Cannot load the state dict into ${this.constructor.name}: ${problems.join('; ')}`, missing, unexpected);
    }
    noGrad(() => {
      for (const [target, source] of pairs) target.copy_(source);
    });
    return { missing, unexpected, loaded: pairs.length };
  }

  /**
   * Frees every parameter and buffer (and their gradients) of this module and its descendants now,
   * instead of at garbage collection; libtorch's own modules let go of theirs too. The module is
   * unusable afterwards (its tensors say they have been disposed). `using model = resnet50()`
   * calls this at the end of the block. Idempotent.
   */
  dispose(): void {
    for (const [, module] of this.namedModules()) module.disposeOwn();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Frees this module's own tensors (not its children's); native layers also release libtorch's. */
  protected disposeOwn(): void {
    for (const map of [this.#parameters, this.#buffers]) {
      for (const t of map.values()) {
        if (t.isDisposed) continue;
        t.clearGrad();
        t.dispose();
      }
    }
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
   * Re-lays every 4-D parameter in `memoryFormat` in place ('channels_last' lets cuDNN and oneDNN
   * pick their NHWC kernels; feed inputs in the same format). Handles stay valid.
   */
  toMemoryFormat(memoryFormat: MemoryFormat): this {
    for (const [, module] of this.namedModules()) module.relayOwnTensors(memoryFormat);
    return this;
  }

  /**
   * Converts floating-point parameters and buffers to `dtype` in place (handles stay valid; build
   * optimizers afterwards). `where` picks the modules whose own tensors convert, e.g. everything
   * but BatchNorm for a half-precision model with float32 normalisation.
   */
  toDtype(dtype: FloatDtype, where: (module: Module) => boolean = () => true): this {
    checkChoice('dtype', dtype, FLOAT_DTYPES, 'float32');
    for (const [, module] of this.namedModules()) if (where(module)) module.convertOwnTensors(dtype);
    return this;
  }

  /** Converts this module's own floating-point tensors (TypeScript-made ones are replaced). */
  protected convertOwnTensors(dtype: FloatDtype): void {
    const convert = (t: Tensor) => t.dtype !== dtype && isFloatDtype(t.dtype);
    this.#replaceOwnTensors([this.#parameters, this.#buffers], convert, (t) => t.to(dtype));
  }

  /** Re-lays this module's own 4-D tensors (TypeScript-made ones are replaced by copies). */
  protected relayOwnTensors(memoryFormat: MemoryFormat): void {
    this.#replaceOwnTensors([this.#parameters], (t) => t.ndim === 4 && !t.isContiguous(memoryFormat), (t) => t.contiguous(memoryFormat));
  }

  /**
   * Moves this module's own tensors. Tensors created in TypeScript are replaced by moved copies
   * (build optimizers after to(), as in PyTorch); native layers override this to move in place.
   */
  protected moveOwnTensors(device: Device): void {
    this.#replaceOwnTensors([this.#parameters, this.#buffers], (t) => t.device !== device, (t) => t.to(device));
  }

  /** Replaces the tensors `applies` to by `make(tensor)`, keeping requiresGrad; frees the old ones. */
  #replaceOwnTensors(maps: Map<string, Tensor>[], applies: (t: Tensor) => boolean, make: (t: Tensor) => Tensor): void {
    for (const map of maps) {
      for (const [name, t] of map) {
        if (!applies(t)) continue;
        const replacement = keep(noGrad(() => make(t)));
        replacement.requiresGrad = t.requiresGrad;
        map.set(name, replacement);
        t.dispose();
      }
    }
  }
}
