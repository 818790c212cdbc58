// One declaration per option (issue 27). Each option is written once, as a typed object made by a
// kind (integer, number, choice, boolean, list, path, text, custom): its check, default, help and
// flag. A set of them (declareOptions) gives what used to be written out again for each use:
//   - OptionsOf<typeof SET>: what the library accepts, every key optional (unless required), each
//     option's doc comment kept (the types are mapped over the declaration object's own keys);
//   - ConfigOf<typeof SET>: the resolved config, every default filled in;
//   - SET.resolve(options): every option checked once, errors naming its key (or, given a label,
//     the command line's flag); a config it returned is given back as is, not checked again;
//   - SET.flags: each option's flag, placeholder, help and text parser (flags.ts hands them to
//     commander: addFlags, fromFlags), refusing what the library refuses with the same message;
//   - SET.hparams(config), SET.checkpointConfig(config): what TensorBoard's HParams tab and a
//     checkpoint keep.
// This module loads neither commander nor the addon: library code declares its options here.
import { checkBoolean, checkChoice, checkFiniteNumber, checkInteger, checkPath, FLOAT32_MAX, invalidArgument } from '../errors';
import { integerIn, numberIn, oneOf, preview } from './messages';

export type OptionKind = 'integer' | 'number' | 'choice' | 'boolean' | 'list' | 'path' | 'text' | 'custom';

/** How messages name an option: by default its key; the command line names its flag. */
export type Label = (key: string) => string;

/** A value TensorBoard's HParams tab takes. */
export type HparamValue = number | string | boolean;

/** How an option appears on the command line. */
export interface FlagSpec {
  /** The long flag; default '--' and the key in kebab-case ('--no-' and it for a boolean on by default). */
  name?: string;
  /** The value's placeholder in --help, e.g. '<n>'; each kind has one. */
  value?: string;
  /** The --help line, where the command line says it otherwise than the option's `help`. */
  help?: string;
  /** A switch without a value: --x gives true (booleans are switches). */
  switch?: boolean;
  /** Also a --no-x switch giving false, with this help (for options whose default is neither). */
  negated?: string;
  /** How the flag's text becomes the library's value where the kind's way does not fit (other
   * units; a repeated flag: `previous` is its value so far). The option's check runs on the result. */
  parse?: (text: string, name: string, previous: unknown) => unknown;
}

/** What every kind takes. */
export interface Spec<T> {
  /** One line for --help (lower case, no full stop, as commander prints it). */
  help?: string;
  /** The value when none is given. */
  default?: T;
  /** The value when none is given, from the other options resolved (those without defaultFrom, and
   * those declared before it). Annotate the parameter with what it reads: (c: { batchSize: number }). */
  defaultFrom?: (config: never) => T;
  /** How --help shows the default, where the value itself does not say it (defaultFrom; a flag.parse
   * reading other units than the library's, as --max-body-mb reads MiB of maxBodyBytes). */
  defaultHelp?: string;
  /** The library needs it (no default); the command line makes the flag mandatory. */
  required?: boolean;
  /** Only the command line has it (--json): not in the library's options, config, hparams or checkpoints. */
  cliOnly?: boolean;
  /** A hyperparameter for TensorBoard's HParams tab (plain values only); default true. False for
   * options that say where and how a run is kept or printed, not what is trained. */
  hparam?: boolean;
  /** Kept in a checkpoint's config; default true. */
  checkpoint?: boolean;
  /** The command line's flag (default: one derived from the key), its name alone, or false: library only. */
  flag?: false | string | FlagSpec;
  /** The check of a given value, where the kind's does not say it (its message, its range). */
  check?: (value: unknown, name: string) => T;
}

/** One declared option: what the library accepts (In) and what resolve() gives (Out). */
export interface Option<In = unknown, Out = unknown> {
  readonly kind: OptionKind;
  readonly help: string;
  /** Checks a given value (not undefined), naming it `name`: the value resolved, or a TypeError /
   * RangeError in the option set's message style. */
  readonly check: (value: unknown, name: string) => Out;
  /** The kind's reading of a flag's text as a library value (before the check). */
  readonly fromText: (text: string) => unknown;
  readonly default?: Out;
  readonly defaultFrom?: (config: never) => Out;
  readonly defaultHelp?: string;
  readonly required: boolean;
  readonly cliOnly: boolean;
  readonly hparam: boolean;
  readonly checkpoint: boolean;
  /** null: not on the command line. */
  readonly flag: FlagSpec | null;
  /** A choice's values (--help lists them). */
  readonly choices?: readonly string[];
  /** A list's (or pair's) item. */
  readonly item?: Option;
  /** Types only (never set). */
  readonly types?: { accepts: In; resolves: Out };
}

type HasValue<S> = S extends { default: unknown } | { defaultFrom: unknown } | { required: true } ? true : false;

/** A kind's option, typed from its spec: optional without a default, flags as literal types. */
export type Declared<In, Out, S> = Option<In, HasValue<S> extends true ? Out : Out | undefined> & {
  readonly required: S extends { required: true } ? true : false;
  readonly cliOnly: S extends { cliOnly: true } ? true : false;
} & (S extends { default: unknown } ? { readonly default: Out } : unknown) &
  (S extends { defaultFrom: infer F } ? { readonly defaultFrom: F } : unknown);

export type Declarations = { readonly [key: string]: Option };

// Keys by role, and the mapped types. Mapped over `keyof D` (homomorphic), so that each property
// keeps the doc comment written on the declaration's property, in editors and in .d.ts files.
type LibraryKey<D> = { [K in keyof D]-?: D[K] extends { cliOnly: true } ? never : K }[keyof D];
type CliOnlyKey<D> = Exclude<keyof D, LibraryKey<D>>;
type RequiredKey<D> = { [K in keyof D]-?: D[K] extends { required: true } ? K : never }[keyof D];
type Accepted<D> = { -readonly [K in keyof D]: D[K] extends { types?: { accepts: infer I } } ? I : never };
type Resolved<D> = { readonly [K in keyof D]: D[K] extends { types?: { resolves: infer O } } ? O : never };
type Flat<T> = { [K in keyof T]: T[K] } & {};

export type OptionsFor<D> = Flat<Partial<Pick<Accepted<D>, Exclude<LibraryKey<D>, RequiredKey<D>>>> & Pick<Accepted<D>, LibraryKey<D> & RequiredKey<D>>>;
export type ConfigFor<D> = Flat<Pick<Resolved<D>, LibraryKey<D>>>;
export type CliValuesFor<D> = Flat<Pick<Resolved<D>, CliOnlyKey<D>>>;

type AnySet = { readonly declarations: Declarations };
/** What a set's library accepts: every option optional unless required, with its doc comment. */
export type OptionsOf<S extends AnySet> = OptionsFor<S['declarations']>;
/** A set's resolved config: every option checked, every default filled in. */
export type ConfigOf<S extends AnySet> = ConfigFor<S['declarations']>;
/** The values of a set's command-line-only flags. */
export type CliValuesOf<S extends AnySet> = CliValuesFor<S['declarations']>;

/** An option's command-line flag, resolved from its spec and key. */
export interface Flag {
  readonly key: string;
  readonly option: Option;
  /** '--max-batch', '--no-curves'. */
  readonly long: string;
  /** The value's placeholder ('<n>'); null for a switch. */
  readonly value: string | null;
  readonly help: string;
  /** The help of a --no-x flag added next to a --x switch. */
  readonly negated: string | null;
  /** The flag's text as the library's value, checked: the same check, and message, as resolve()'s,
   * naming the flag. */
  readonly parse: (text: string, previous: unknown) => unknown;
}

const PLACEHOLDERS: Record<OptionKind, string> = { integer: '<n>', number: '<x>', choice: '<kind>', boolean: '', list: '<list>', path: '<path>', text: '<text>', custom: '<value>' };

const asIs = (text: string): unknown => text;
/** A number where the text is one; otherwise the text itself, for the check to refuse as the library
 * would refuse that string. Blank is never 0 (Number('') is): an empty variable in a script must
 * not become a seed or a port. */
export const numeric = (text: string): unknown => {
  const n = Number(text);
  return text.trim() === '' || Number.isNaN(n) ? text : n;
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function make<In, Out>(kind: OptionKind, check: (value: unknown, name: string) => Out, fromText: (text: string) => unknown, spec: Spec<Out>, parts: { choices?: readonly string[]; item?: Option } = {}): Option<In, Out> {
  const flag = spec.flag === false ? null : typeof spec.flag === 'string' ? { name: spec.flag } : (spec.flag ?? {});
  const option: { -readonly [K in keyof Option<In, Out>]: Option<In, Out>[K] } = {
    kind,
    help: spec.help ?? '',
    check: spec.check ?? check,
    fromText,
    required: spec.required ?? false,
    cliOnly: spec.cliOnly ?? false,
    hparam: spec.hparam ?? !spec.cliOnly,
    checkpoint: spec.checkpoint ?? !spec.cliOnly,
    flag,
  };
  if (spec.cliOnly && flag === null) throw new Error('an option only the command line has needs a flag');
  if ('default' in spec) option.default = deepFreeze(spec.default);
  if (spec.defaultFrom) option.defaultFrom = spec.defaultFrom;
  if (spec.defaultHelp !== undefined) option.defaultHelp = spec.defaultHelp;
  if (parts.choices) option.choices = Object.freeze([...parts.choices]);
  if (parts.item) option.item = parts.item;
  return Object.freeze(option);
}

/** Message styles: 'expected' is errors.ts's ("Expected positive integer for maxBatch but
 * received 0 of type number"), 'must' the server's ("maxBatch must be an integer from 1 to 65536, got 0"). */
export type MessageStyle = 'expected' | 'must';

export interface RangeSpec<T> extends Spec<T> {
  min: number;
  /** Default: the largest safe integer (integer), the largest float32 (number). */
  max?: number;
  /** After the range in 'must' messages, e.g. ' ms'. */
  unit?: string;
  style?: MessageStyle;
}

/** A safe integer from min to max. */
export function integer<const S extends RangeSpec<number>>(spec: S): Declared<number, number, S> {
  const { min, max = Number.MAX_SAFE_INTEGER, unit = '', style = 'expected' } = spec;
  const check = style === 'must' ? (v: unknown, name: string) => integerIn(name, v, min, max, unit) : (v: unknown, name: string) => checkInteger(name, v, min, max);
  return make('integer', check, numeric, spec) as Declared<number, number, S>;
}

/** A finite number from min to max. */
export function number<const S extends RangeSpec<number>>(spec: S): Declared<number, number, S> {
  const { min, max = FLOAT32_MAX, unit = '', style = 'expected' } = spec;
  const check = style === 'must' ? (v: unknown, name: string) => numberIn(name, v, min, max, unit) : (v: unknown, name: string) => checkFiniteNumber(name, v, min, max);
  return make('number', check, numeric, spec) as Declared<number, number, S>;
}

export interface ChoiceSpec<V> extends Spec<V> {
  style?: MessageStyle;
}

/** One of `values` (a const list the option's type is made from: OPTIMIZER_KINDS). */
export function choice<const V extends string, const S extends ChoiceSpec<V>>(values: readonly V[], spec: S): Declared<V, V, S> {
  const check =
    spec.style === 'must'
      ? (v: unknown, name: string) => oneOf(name, v, values)
      : (v: unknown, name: string) => checkChoice(name, (v === undefined ? null : v) as V, values, values[0]);
  return make('choice', check, asIs, spec, { choices: values }) as Declared<V, V, S>;
}

/** true or false; on the command line a switch (--x, or --no-x when on by default). */
export function boolean<const S extends Spec<boolean>>(spec: S): Declared<boolean, boolean, S> {
  return make('boolean', (v, name) => checkBoolean(name, v), asIs, spec) as Declared<boolean, boolean, S>;
}

/** A non-empty path. */
export function path<const S extends Spec<string>>(spec: S): Declared<string, string, S> {
  return make('path', (v, name) => checkPath(name, v), asIs, spec) as Declared<string, string, S>;
}

/** Any string. */
export function text<const S extends Spec<string>>(spec: S): Declared<string, string, S> {
  const check = (v: unknown, name: string) => {
    if (typeof v !== 'string') throw invalidArgument('string', name, v);
    return v;
  };
  return make('text', check, asIs, spec) as Declared<string, string, S>;
}

/** A list of `item`s (each checked as the item option checks, named name[i]); on the command line
 * comma-separated ('32,256'). One or more items. */
export function list<E, const S extends Spec<readonly E[]>>(item: Option<unknown, E | undefined>, spec: S): Declared<readonly E[], readonly E[], S> {
  return listOf(item, undefined, spec) as Declared<readonly E[], readonly E[], S>;
}

/** Two `item`s (each checked as the item option checks); on the command line '0.9,0.999'. */
export function pair<E, const S extends Spec<readonly [E, E]>>(item: Option<unknown, E | undefined>, spec: S): Declared<readonly [E, E], readonly [E, E], S> {
  return listOf(item, 2, spec) as Declared<readonly [E, E], readonly [E, E], S>;
}

function listOf<E>(item: Option<unknown, E | undefined>, length: number | undefined, spec: Spec<readonly E[]>): Option {
  const check = (v: unknown, name: string): readonly E[] => {
    if (!Array.isArray(v) || (length === undefined ? v.length === 0 : v.length !== length)) {
      throw invalidArgument(length === undefined ? 'a non-empty list' : `a list of ${length}`, name, v);
    }
    return Object.freeze(v.map((x, i) => item.check(x, `${name}[${i}]`) as E));
  };
  const fromText = (t: string) => (t.trim() === '' ? [] : t.split(',').map((part) => item.fromText(part.trim())));
  return make('list', check, fromText, spec, { item });
}

/**
 * Any other option, checked by `check` (which gives the resolved value): custom(check, spec) when
 * the library takes what it resolves to, custom<In>()(check, spec) when it takes more (In), e.g.
 * `lossScaling: custom<boolean | GradScalerOptions>()(lossScalingCheck, {...})` resolving to
 * false | GradScalerOptions.
 */
export function custom<In>(): <Out, const S extends Spec<Out>>(check: (value: unknown, name: string) => Out, spec: S) => Declared<In, Out, S>;
export function custom<Out, const S extends Spec<Out>>(check: (value: unknown, name: string) => Out, spec: S): Declared<Out, Out, S>;
export function custom(check?: (value: unknown, name: string) => unknown, spec?: Spec<unknown>): unknown {
  const build = (c: (value: unknown, name: string) => unknown, s: Spec<unknown>) => make('custom', c, asIs, s);
  return check === undefined ? build : build(check, spec ?? {});
}

/** Options checked together, on the resolved config (conflicts); `label` names options as resolve() was told. */
export interface SetSettings<D> {
  /** The options object in messages, e.g. "the server's options". */
  name?: string;
  /** How messages on the command line name an option: by its flag (default), or by its key where
   * scripts and tests know the messages so (bench). */
  commandLineNames?: 'flag' | 'key';
  together?: (config: ConfigFor<D>, label: Label) => void;
}

type Together = (config: unknown, label: Label) => void;

/** What resolved a config: its options, and the checks together that ran on it. A set gives such
 * a config back as is when it holds no option the config's set did not resolve and no check
 * together that did not run on it (a superset's config passes a subset: the server's, a model). */
const resolvedBy = new WeakMap<object, { options: ReadonlyMap<string, Option>; together: ReadonlySet<Together> }>();

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export class OptionSet<D extends Declarations> {
  readonly declarations: D;
  readonly name: string;
  /** Each command-line option's flag, in declaration order. */
  readonly flags: ReadonlyMap<string, Flag>;
  readonly #byKey: ReadonlyMap<string, Option>;
  readonly #together: readonly Together[];
  readonly #commandLineNames: 'flag' | 'key';

  constructor(declarations: D, settings: SetSettings<D> = {}, together: readonly Together[] = []) {
    this.declarations = declarations;
    this.name = settings.name ?? 'the options';
    this.#together = settings.together ? [...together, settings.together as Together] : together;
    this.#byKey = new Map(Object.entries(declarations));
    this.#commandLineNames = settings.commandLineNames ?? 'flag';
    const flags = new Map<string, Flag>();
    for (const [key, option] of this.#byKey) {
      if (option.flag !== null) flags.set(key, flagOf(key, option, this.#commandLineNames));
    }
    this.flags = flags;
  }

  /**
   * This set's options and `more` (another set's, or declarations), in that order: a command's set,
   * say (the library's options and the command line's own flags). Its resolve() runs the checks
   * together of every part, and a config it resolves is taken as it is by each part.
   */
  with<E extends Declarations>(more: OptionSet<E> | E, settings: SetSettings<D & E> = {}): OptionSet<D & E> {
    const other = more instanceof OptionSet ? more : new OptionSet(more);
    for (const [key, option] of other.#byKey) {
      if (this.#byKey.has(key) && this.#byKey.get(key) !== option) throw new Error(`${key} is declared twice, differently`);
    }
    const declarations = { ...this.declarations, ...other.declarations } as D & E;
    const names = settings.commandLineNames ?? this.#commandLineNames;
    return new OptionSet(declarations, { name: settings.name ?? this.name, commandLineNames: names, together: settings.together }, [...this.#together, ...other.#together]);
  }

  /** Names options by their flags (by key where there is none, or commandLineNames says so):
   * resolve()'s label on the command line. */
  readonly flagLabel: Label = (key) => (this.#commandLineNames === 'key' ? key : (this.flags.get(key)?.long ?? key));

  /**
   * Every option checked (given values) or defaulted, then the checks of options together; throws
   * naming the first bad option with `label` (default: its key). A config resolve() returned (by
   * this set or a set holding all its options) is returned as is. Keys not declared are left out.
   */
  resolve(options: OptionsFor<D> | ConfigFor<D> = {} as OptionsFor<D>, label: Label = (key) => key): ConfigFor<D> {
    if (this.#resolvedHere(options)) return options as ConfigFor<D>;
    return this.resolveParsed(options as Readonly<Record<string, unknown>>, new Set(), label);
  }

  /**
   * resolve() for values of which some (`parsed`) were checked already: the command line's parsers
   * run each option's check as they read its flag (fromFlags), so those are not checked again.
   */
  resolveParsed(values: Readonly<Record<string, unknown>>, parsed: ReadonlySet<string>, label: Label): ConfigFor<D> {
    if (typeof values !== 'object' || values === null || Array.isArray(values)) throw new TypeError(`${this.name} must be an object, got ${preview(values)}`);
    const config: Record<string, unknown> = {};
    const derived: [string, Option][] = [];
    for (const [key, option] of this.#byKey) {
      if (option.cliOnly) continue;
      const value = Object.hasOwn(values, key) ? values[key] : undefined;
      if (value !== undefined) config[key] = parsed.has(key) ? value : option.check(value, label(key));
      else if (option.required) config[key] = option.check(undefined, label(key));
      else if (option.defaultFrom) {
        config[key] = undefined; // (keeps the declaration order)
        derived.push([key, option]);
      } else config[key] = option.default;
    }
    for (const [key, option] of derived) config[key] = option.check((option.defaultFrom as (c: unknown) => unknown)(config), label(key));
    for (const check of this.#together) check(config, label);
    return this.#mark(Object.freeze(config)) as ConfigFor<D>;
  }

  /** A config this set resolved on another thread, received as a structured clone (which drops
   * the mark resolve() leaves on it): marked again without checking. Only for resolve()'s output. */
  fromThread(config: ConfigFor<D>): ConfigFor<D> {
    if (typeof config !== 'object' || config === null) throw new TypeError(`${this.name} must be an object, got ${preview(config)}`);
    return this.#mark(Object.freeze(config)) as ConfigFor<D>;
  }

  /** The hyperparameters among a config's options: plain values of options declared as such. */
  hparams(config: ConfigFor<D>): Record<string, HparamValue> {
    const out: Record<string, HparamValue> = {};
    for (const [key, option] of this.#byKey) {
      const value = (config as Record<string, unknown>)[key];
      if (option.hparam && !option.cliOnly && (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')) out[key] = value;
    }
    return out;
  }

  /** What a checkpoint keeps of a config: the options declared to go in one. */
  checkpointConfig(config: ConfigFor<D>): Partial<ConfigFor<D>> {
    const out: Record<string, unknown> = {};
    for (const [key, option] of this.#byKey) {
      if (option.checkpoint && !option.cliOnly && Object.hasOwn(config, key)) out[key] = (config as Record<string, unknown>)[key];
    }
    return out as Partial<ConfigFor<D>>;
  }

  #mark(config: object): object {
    resolvedBy.set(config, { options: this.#byKey, together: new Set(this.#together) });
    return config;
  }

  #resolvedHere(value: unknown): boolean {
    const by = typeof value === 'object' && value !== null ? resolvedBy.get(value) : undefined;
    if (by === undefined) return false;
    for (const [key, option] of this.#byKey) if (!option.cliOnly && by.options.get(key) !== option) return false;
    return this.#together.every((check) => by.together.has(check));
  }
}

function flagOf(key: string, option: Option, names: 'flag' | 'key'): Flag {
  const spec = option.flag ?? {};
  const isSwitch = spec.switch ?? (option.kind === 'boolean' || spec.negated !== undefined);
  const negatedOnly = isSwitch && option.default === true && spec.negated === undefined;
  const long = spec.name ?? `--${negatedOnly ? 'no-' : ''}${kebab(key)}`;
  const read = spec.parse ?? ((text: string) => option.fromText(text));
  return Object.freeze({
    key,
    option,
    long,
    value: isSwitch ? null : (spec.value ?? PLACEHOLDERS[option.kind]),
    help: spec.help ?? option.help,
    negated: spec.negated ?? null,
    parse: (text: string, previous: unknown) => option.check(read(text, long, previous), names === 'key' ? key : long),
  });
}

/** A defaultFrom must read only what the set resolves: its parameter's type is checked here. */
type DerivedDefaultsFit<D> = {
  [K in keyof D]: D[K] extends { defaultFrom: (config: infer P) => unknown } ? (ConfigFor<D> extends P ? D[K] : { defaultFrom: (config: ConfigFor<D>) => unknown }) : D[K];
};

/** A set of declared options (each declaration's doc comment is the option's documentation). */
export function declareOptions<const D extends Declarations>(declarations: D & DerivedDefaultsFit<D>, settings?: SetSettings<D>): OptionSet<D> {
  return new OptionSet(declarations, settings);
}
