// One declaration per option (issue 27): the declared sets' derived parts agree with each other. The
// command line's flags (addFlags) refuse what the library (resolve) refuses, with the same message
// naming the flag instead of the key; defaults show in --help; derived defaults, negated switches,
// the hparams and checkpoint filters; resolve() on its own output. No addon is loaded here.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command, CommanderError } from 'commander';
import { DDP_BENCH_OPTIONS, STEP_BENCH_OPTIONS, TRAIN_BENCH_OPTIONS } from '../src/bench/options';
import { invalidArgument } from '../src/errors';
import { CLASSIFIER_OPTIONS, EVAL_OPTIONS, VISUALIZE_OPTIONS } from '../src/inference/options';
import { device, threads } from '../src/options/common';
import {
  boolean,
  choice,
  custom,
  declareOptions,
  integer,
  number,
  pair,
  path,
  type ConfigOf,
  type Declarations,
  type OptionSet,
  type OptionsOf,
} from '../src/options/declare';
import { addFlags, fromFlags } from '../src/options/flags';
import { LISTEN_OPTIONS, SERVE_OPTIONS } from '../src/serve/options';

// A set shaped like train's: every kind train/config.ts has (see the report of issue 27).
const OPTIMIZER_KINDS = ['sgd', 'adamw', 'adam'] as const;
interface ScalerOptions {
  initScale?: number;
}
function lossScalingCheck(value: unknown, name: string): false | ScalerOptions {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as ScalerOptions;
  if (typeof value !== 'boolean') throw invalidArgument('a boolean or GradScaler options', name, value);
  return value ? {} : false;
}
function tf32Check(value: unknown, name: string): boolean | 'convolutions' {
  if (value !== 'convolutions' && typeof value !== 'boolean') throw invalidArgument("true, false or 'convolutions'", name, value);
  return value;
}
function distributedCheck(value: unknown, name: string): { rank?: number } | null {
  if (value === false || value === null) return null;
  if (value === true) return {};
  if (typeof value === 'object' && !Array.isArray(value)) return value as { rank?: number };
  throw invalidArgument('a boolean or process-group options', name, value);
}
function betasCheck(value: unknown, name: string): readonly [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((b) => typeof b === 'number' && b >= 0 && b < 1)) throw invalidArgument('two numbers from 0 to below 1', name, value);
  return [value[0], value[1]];
}

const TRAIN_LIKE = declareOptions(
  {
    /** Default 256. */
    batchSize: integer({ min: 1, max: 1_000_000, default: 256, help: 'batch size' }),
    /** Default: the larger of batchSize and 256. */
    evalBatchSize: integer({
      min: 1,
      max: 1_000_000,
      defaultFrom: (c: { batchSize: number }) => Math.max(c.batchSize, 256),
      defaultHelp: 'the larger of --batch-size and 256',
      help: 'batch size of the evaluation after each epoch',
    }),
    /** Peak learning rate; default 1e-3. */
    lr: number({ min: 0, default: 1e-3, help: 'peak learning rate' }),
    /** Default 'sgd'. */
    optimizer: choice(OPTIMIZER_KINDS, { default: 'sgd', help: "'sgd', 'adamw' or 'adam'" }),
    /** AdamW / Adam; default [0.9, 0.999]. */
    betas: pair(number({ min: 0, max: 1 }), { default: [0.9, 0.999], check: betasCheck, help: 'AdamW / Adam: decay rates of the gradient mean and square', flag: { value: '<b1,b2>' } }),
    /** SGD and Adam: L2 (default 0); AdamW: decoupled (default 0.01). */
    weightDecay: number({
      min: 0,
      defaultFrom: (c: { optimizer: (typeof OPTIMIZER_KINDS)[number] }) => (c.optimizer === 'adamw' ? 0.01 : 0),
      defaultHelp: '0; 0.01 with --optimizer adamw',
      help: 'weight decay',
    }),
    /** Warm-up steps; default one epoch. */
    warmupSteps: integer({ min: 0, help: 'warm-up steps' }),
    /** Default: the process's. */
    threads: threads({ help: 'intra-op threads', hparam: false }),
    device: device({}),
    /** Default: on with amp 'float16'. */
    amp: choice(['bfloat16', 'float16'], { help: 'mixed precision', flag: { value: '<dtype>' } }),
    lossScaling: custom<boolean | ScalerOptions>()(lossScalingCheck, {
      defaultFrom: (c: { amp?: 'bfloat16' | 'float16' }) => (c.amp === 'float16' ? {} : false),
      defaultHelp: 'on with --amp float16',
      help: 'dynamic loss scaling',
      flag: { negated: 'no loss scaling with --amp float16' },
    }),
    tf32: custom<boolean | 'convolutions'>()(tf32Check, { default: 'convolutions', help: 'TensorFloat-32 in matrix products too', flag: { negated: 'no TensorFloat-32 at all' } }),
    curves: boolean({ default: true, help: 'do not keep metrics.ndjson nor draw curves.png', hparam: false }),
    nesterov: boolean({ default: false, help: 'Nesterov momentum' }),
    logDir: path({ help: 'TensorBoard event files go here', flag: { name: '--logdir', value: '<dir>' }, hparam: false }),
    resume: path({ help: 'continue a run', flag: { value: '<checkpoint>' }, hparam: false, checkpoint: false }),
    syntheticSize: custom((v: unknown) => v as { train: number; test: number }, { default: { train: 10_000, test: 2_000 }, flag: false }),
    distributed: custom<boolean | { rank?: number }>()(distributedCheck, { default: null, flag: false, hparam: false }),
    json: boolean({ cliOnly: true, help: 'one JSON object a line' }),
  },
  {
    name: 'the training options',
    together(c, label) {
      if (c.optimizer !== 'sgd' && c.nesterov) throw new TypeError(`${label('nesterov')} is SGD's, and the optimizer is ${c.optimizer}`);
    },
  },
);
type TrainLikeOptions = OptionsOf<typeof TRAIN_LIKE>;
type TrainLikeConfig = ConfigOf<typeof TRAIN_LIKE>;

/** A command with a set's flags, parsed from `args`: its values, or commander's error. */
function parse(set: OptionSet<Declarations>, args: string[]): { values?: Record<string, unknown>; error?: string; help: string } {
  const command = new Command('t').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  addFlags(command, set);
  const help = command.helpInformation();
  try {
    command.parse(args, { from: 'user' });
    return { values: command.opts(), help };
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { error: err.message, help };
  }
}

function message(run: () => unknown): string | null {
  try {
    run();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

test('types: options optional, config resolved with every default, command-line-only flags apart', () => {
  const options: TrainLikeOptions = { lr: 0.1, betas: [0.8, 0.9], lossScaling: { initScale: 2 }, distributed: true };
  const c: TrainLikeConfig = TRAIN_LIKE.resolve(options);
  const evalBatch: number = c.evalBatchSize;
  const warmup: number | undefined = c.warmupSteps;
  const scaling: false | ScalerOptions = c.lossScaling;
  const betas: readonly [number, number] = c.betas;
  const tf32: boolean | 'convolutions' = c.tf32;
  const distributed: { rank?: number } | null = c.distributed;
  // @ts-expect-error json is the command line's only
  assert.equal(c.json, undefined);
  // @ts-expect-error an option the set does not declare
  TRAIN_LIKE.resolve({ momentum: 0.9 });
  assert.deepEqual([evalBatch, warmup, scaling, betas, tf32, distributed], [256, undefined, { initScale: 2 }, [0.8, 0.9], 'convolutions', {}]);
  declareOptions({
    a: integer({ min: 0, default: 1 }),
    // @ts-expect-error a default may read only options the set resolves
    b: integer({ min: 0, defaultFrom: (c: { missing: number }) => c.missing }),
  });
});

test('resolve: defaults, derived defaults, checks naming the key, unknown keys left out, errors in the library style', () => {
  const c = TRAIN_LIKE.resolve();
  assert.equal(c.batchSize, 256);
  assert.equal(c.evalBatchSize, 256);
  assert.equal(c.weightDecay, 0);
  assert.equal(c.lossScaling, false);
  assert.equal(TRAIN_LIKE.resolve({ batchSize: 1024 }).evalBatchSize, 1024, 'the larger of batchSize and 256');
  assert.equal(TRAIN_LIKE.resolve({ batchSize: 1024, evalBatchSize: 8 }).evalBatchSize, 8, 'given wins');
  assert.equal(TRAIN_LIKE.resolve({ optimizer: 'adamw' }).weightDecay, 0.01, 'by optimizer');
  assert.equal(TRAIN_LIKE.resolve({ optimizer: 'adamw', weightDecay: 0 }).weightDecay, 0);
  assert.deepEqual(TRAIN_LIKE.resolve({ amp: 'float16' }).lossScaling, {});
  assert.equal(TRAIN_LIKE.resolve({ amp: 'float16', lossScaling: false }).lossScaling, false);
  assert.ok(!('extra' in TRAIN_LIKE.resolve({ extra: 1 } as TrainLikeOptions)));
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.betas) && Object.isFrozen(c.syntheticSize), 'a config and its default values cannot be changed');
  assert.throws(() => TRAIN_LIKE.resolve({ batchSize: 0 }), /^TypeError: Expected integer from 1 to 1000000 for batchSize but received 0 of type number$/);
  assert.throws(() => TRAIN_LIKE.resolve({ lr: Infinity }), /Expected finite number from 0 to 3\.4e38 \(float32\) for lr but received Infinity/);
  assert.throws(() => TRAIN_LIKE.resolve({ optimizer: 'lamb' as never }), /Expected 'sgd', 'adamw' or 'adam' for optimizer but received 'lamb'/);
  assert.throws(() => TRAIN_LIKE.resolve({ betas: [0.9, 1] }), /Expected two numbers from 0 to below 1 for betas/);
  assert.throws(() => TRAIN_LIKE.resolve({ batchSize: 2e6 }), /for batchSize/, 'a given value is checked before a default derived from it');
  assert.throws(() => TRAIN_LIKE.resolve({ optimizer: 'adam', nesterov: true }), /^TypeError: nesterov is SGD's, and the optimizer is adam$/);
  assert.throws(() => TRAIN_LIKE.resolve(7 as never), /^TypeError: the training options must be an object, got 7$/);
  assert.throws(() => TRAIN_LIKE.resolve({ lr: -1 }, (key) => `<${key}>`), /for <lr> but received -1/, 'a label names the option');
  // the server's style, as before: "<name> must be ..., got ..."
  assert.throws(() => SERVE_OPTIONS.resolve({ models: { m: 'a' }, maxBatch: 0 }), /^RangeError: maxBatch must be an integer from 1 to 65536, got 0$/);
  assert.throws(() => SERVE_OPTIONS.resolve({} as never), /models must be a Map or an object of name -> checkpoint file, got nothing/, 'a required option');
});

test("resolve() gives its own output back as is (checked once); a copy resolves to an equal config; a superset's config passes a subset", () => {
  const sets: [OptionSet<Declarations>, Record<string, unknown>][] = [
    [TRAIN_LIKE, { optimizer: 'adamw', amp: 'float16', betas: [0.5, 0.6] }],
    [SERVE_OPTIONS, { models: new Map([['m', 'a.safetensors']]), log: 'json' }],
    [LISTEN_OPTIONS, { port: 0 }],
    [EVAL_OPTIONS, { batchSize: 8 }],
    [CLASSIFIER_OPTIONS, { topK: 5, threads: 1 }],
    [VISUALIZE_OPTIONS, { seed: 3 }],
    [STEP_BENCH_OPTIONS, { batches: [2], python: null }],
    [TRAIN_BENCH_OPTIONS, { archs: ['resnet18'] }],
    [DDP_BENCH_OPTIONS, { batch: 8, world: 4 }],
  ];
  for (const [set, options] of sets) {
    const config = set.resolve(options as never);
    assert.equal(set.resolve(config), config, set.name);
    assert.deepEqual(set.resolve({ ...config } as never), config, `${set.name}: a copy`);
    assert.deepEqual(set.resolve(structuredClone({ ...config }) as never), config, `${set.name}: a structured clone (another thread)`);
  }
  const served = SERVE_OPTIONS.resolve({ models: { m: 'a' } });
  const { SERVED_MODEL_OPTIONS, BATCHING_OPTIONS } = require('../src/serve/options') as typeof import('../src/serve/options');
  assert.equal(SERVED_MODEL_OPTIONS.resolve(served), served, "the server's config is taken by each model as it is");
  assert.equal(BATCHING_OPTIONS.resolve(served), served);
  // not the other way round, nor past checks together that did not run
  const batching = BATCHING_OPTIONS.resolve({});
  assert.notEqual(SERVED_MODEL_OPTIONS.resolve(batching), batching);
  const noTogether = declareOptions({ ...TRAIN_LIKE.declarations }).resolve({ optimizer: 'adam', nesterov: true });
  assert.throws(() => TRAIN_LIKE.resolve(noTogether as never), /nesterov is SGD's/, 'a config resolved without this set\'s checks together is checked again');
  // a clone (from another thread) is marked again by fromThread without a check
  const clone = structuredClone({ ...served });
  assert.equal(SERVE_OPTIONS.resolve(SERVE_OPTIONS.fromThread(clone)), clone);
});

test('flags: derived names, placeholders, defaults and choices in --help, negated switches, tri-state switches', () => {
  const { help, values } = parse(TRAIN_LIKE, []);
  const lines = help.replace(/\s+/g, ' ');
  for (const line of [
    '--batch-size <n> batch size (default: 256)',
    '--eval-batch-size <n> batch size of the evaluation after each epoch (default: the larger of --batch-size and 256)',
    '--lr <x> peak learning rate (default: 0.001)',
    `--optimizer <kind> 'sgd', 'adamw' or 'adam' (choices: "sgd", "adamw", "adam", default: "sgd")`,
    '--betas <b1,b2> AdamW / Adam: decay rates of the gradient mean and square (default: [0.9,0.999])',
    '--weight-decay <x> weight decay (default: 0; 0.01 with --optimizer adamw)',
    '--threads <n> intra-op threads --device',
    "--device <device> 'cpu', 'cuda' or 'cuda:N' --amp",
    '--amp <dtype> mixed precision (choices: "bfloat16", "float16")',
    '--loss-scaling dynamic loss scaling (default: on with --amp float16) --no-loss-scaling no loss scaling with --amp float16',
    '--tf32 TensorFloat-32 in matrix products too --no-tf32 no TensorFloat-32 at all',
    '--no-curves do not keep metrics.ndjson nor draw curves.png --nesterov',
    '--nesterov Nesterov momentum (default: false)',
    '--logdir <dir> TensorBoard event files go here',
    '--json one JSON object a line',
  ]) {
    assert.ok(lines.includes(line), `${line}\n${help}`);
  }
  for (const absent of ['--synthetic-size', '--distributed', '--log-dir']) assert.ok(!help.includes(absent), absent);
  const c = fromFlags(TRAIN_LIKE, values!);
  assert.deepEqual({ ...c.config }, { ...TRAIN_LIKE.resolve() }, 'no flags: the library defaults');
  assert.deepEqual(c.cli, { json: undefined });
  const flagged = (args: string[]) => fromFlags(TRAIN_LIKE, parse(TRAIN_LIKE, args).values!);
  assert.equal(flagged(['--no-curves']).config.curves, false);
  assert.equal(flagged(['--tf32']).config.tf32, true);
  assert.equal(flagged(['--no-tf32']).config.tf32, false);
  assert.deepEqual(flagged(['--amp', 'float16']).config.lossScaling, {});
  assert.equal(flagged(['--amp', 'float16', '--no-loss-scaling']).config.lossScaling, false);
  assert.deepEqual(flagged(['--loss-scaling']).config.lossScaling, {});
  assert.deepEqual(flagged(['--betas', '0.5, 0.75']).config.betas, [0.5, 0.75]);
  assert.equal(flagged(['--optimizer', 'adamw']).config.weightDecay, 0.01);
  assert.equal(flagged(['--batch-size', '512']).config.evalBatchSize, 512);
  assert.equal(flagged(['--logdir', 'runs/a']).config.logDir, 'runs/a');
  assert.equal(flagged(['--json']).cli.json, true);
  // a flag value is the library's own: taken as it is (not checked twice), and the result is a config
  const config = flagged(['--lr', '0.5']).config;
  assert.equal(TRAIN_LIKE.resolve(config), config);
  // checks together name the flags
  assert.throws(() => flagged(['--optimizer', 'adam', '--nesterov']), /^TypeError: --nesterov is SGD's, and the optimizer is adam$/);
  // computed values (what a command works out itself) are checked
  assert.throws(() => fromFlags(TRAIN_LIKE, parse(TRAIN_LIKE, []).values!, { warmupSteps: -1 }), /for --warmup-steps but received -1/);
  // the server's: help as before, MiB on the command line, bytes in the library
  const serve = parse(SERVE_OPTIONS.with(LISTEN_OPTIONS), ['--model', 'm=a', '--max-body-mb', '0.5']);
  const serveLines = serve.help.replace(/\s+/g, ' ');
  for (const line of [
    '--model <name=checkpoint> a model to serve, by name (repeat for more)',
    '--max-body-mb <n> largest request body in MiB, more than 0 and at most 2048 (413 beyond) (default: 64)',
    '--host <host> address to listen on (loopback unless you say otherwise; an empty one is refused) (default: "127.0.0.1")',
    '--timeout-ms <ms> a request not answered within this gets 503 (default: 30000)',
    '--log <kind> request log lines (choices: "off", "terse", "json", default: "off")',
  ]) {
    assert.ok(serveLines.includes(line), `${line}\n${serve.help}`);
  }
  assert.ok(!serve.help.includes('--headers-timeout-ms'), 'library-only');
  const served = fromFlags(SERVE_OPTIONS.with(LISTEN_OPTIONS), serve.values!).config;
  assert.equal(served.maxBodyBytes, 2 ** 19);
  assert.deepEqual([...served.models], [['m', 'a']]);
  assert.equal(served.requestTimeoutMs, 30_000);
  assert.deepEqual([served.host, served.port], ['127.0.0.1', 8080]);
  const twice = parse(SERVE_OPTIONS, ['--model', 'a=1', '--model', 'b=2']);
  assert.deepEqual([...fromFlags(SERVE_OPTIONS, twice.values!).config.models.keys()], ['a', 'b'], 'a repeated flag');
  assert.throws(() => addFlags(addFlags(new Command(), STEP_BENCH_OPTIONS), declareOptions({ steps: integer({ min: 0, help: 'other' }) })), /--steps is declared twice, differently/);
  // bench's messages name the library's keys, as its tests and scripts know them
  assert.match(parse(STEP_BENCH_OPTIONS, ['--batch', '2,0']).error!, /argument '2,0' is invalid\. Expected positive integer for batches\[1\] but received 0 of type number$/);
  assert.match(parse(STEP_BENCH_OPTIONS, ['--device', 'tpu']).error!, /for device but received 'tpu'/);
});

test('the hparams and checkpoint filters keep what the declarations say', () => {
  const c = TRAIN_LIKE.resolve({ threads: 2, logDir: 'runs/x', resume: 'last.safetensors', warmupSteps: 5 });
  const hparams = TRAIN_LIKE.hparams(c);
  assert.deepEqual(Object.keys(hparams), ['batchSize', 'evalBatchSize', 'lr', 'optimizer', 'weightDecay', 'warmupSteps', 'lossScaling', 'tf32', 'nesterov'], 'plain values, not where the run is kept');
  assert.equal(hparams.tf32, 'convolutions');
  const kept = TRAIN_LIKE.checkpointConfig(c);
  assert.ok(!('resume' in kept) && !('json' in kept));
  assert.equal(kept.logDir, 'runs/x');
  assert.deepEqual(kept.syntheticSize, { train: 10_000, test: 2_000 });
  assert.equal(Object.keys(kept).length, Object.keys(c).length - 1);
});

// Values the library may be given, and the command line's text for each (String(), a list joined
// by commas): the flag must accept exactly the values the library accepts, with its message.
const NUMBERS = [-1, 0, 1, 1.5, 2, 3, 7, 255, 256, 1000, 65_535, 65_536, 2 ** 30, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1e308, -Infinity, Infinity, 1e-9];
const WORDS = ['', ' ', 'x', 'cpu', 'cuda', 'cuda:1', 'gpu', 'off', 'json', 'loud', 'sgd', 'lamb', 'bfloat16', 'resnet50', 'resnet34', '127.0.0.1', 'a/b.png', 'python3'];
const LISTS = [[], [1], [0], [32, 256], [2, 'x'], [1.5], ['resnet18'], ['resnet18', 'resnet50'], ['resnet34'], [0.9, 0.999], [0.9, 1], [0.9, 0.999, 0.5]];
/** Options whose flag reads its text its own way (other units, NAME=FILE, a host's message in
 * commander's words): compared in serve.test.ts, and for acceptance below. */
const OWN_PARSERS = new Set(['models', 'maxBodyBytes', 'host']);

test('property: every declared flag of every set refuses exactly what the library refuses, with the same message', () => {
  const sets: [string, OptionSet<Declarations>, string[], Record<string, unknown>][] = [
    ['train-like', TRAIN_LIKE, [], {}],
    ['serve', SERVE_OPTIONS.with(LISTEN_OPTIONS), ['--model', 'm=a'], { models: { m: 'a' } }],
    ['eval', EVAL_OPTIONS, [], {}],
    ['predict', CLASSIFIER_OPTIONS, [], {}],
    ['visualize', VISUALIZE_OPTIONS, [], {}],
    ['bench step', STEP_BENCH_OPTIONS, [], {}],
    ['bench train', TRAIN_BENCH_OPTIONS, [], {}],
    ['bench ddp', DDP_BENCH_OPTIONS, [], {}],
  ];
  let compared = 0;
  for (const [name, set, required, requiredValues] of sets) {
    for (const [key, flag] of set.flags) {
      if (flag.option.cliOnly || OWN_PARSERS.has(key)) continue;
      const library = (value: unknown) => message(() => set.resolve({ ...requiredValues, [key]: value } as never));
      if (flag.value === null) {
        // a switch gives true (--x) or false (--no-x): both are the library's too
        for (const value of [true, false]) assert.equal(library(value), null, `${name} ${key} ${value}`);
        continue;
      }
      const kind = flag.option.kind;
      const numeric = (k: string | undefined) => k === 'integer' || k === 'number';
      // (a number's text is a number only where the option reads numbers)
      const lists = numeric(flag.option.item?.kind) ? LISTS : LISTS.filter((l) => l.every((v) => typeof v === 'string'));
      const samples: unknown[] = numeric(kind) ? [...NUMBERS, ...WORDS] : kind === 'list' ? lists : WORDS;
      for (const value of samples) {
        const text = Array.isArray(value) ? value.join(',') : String(value);
        const parsed = parse(set, [...required, flag.long, text]);
        const cli = parsed.error ?? message(() => fromFlags(set, parsed.values!));
        const lib = library(value);
        const what = `${name}: ${flag.long} '${text}' / ${key} ${JSON.stringify(value)}`;
        assert.equal(cli === null, lib === null, `${what}: command line ${cli}, library ${lib}`);
        if (cli !== null && lib !== null) {
          const prefix: string = `error: option '${flag.long} ${flag.value}' argument '${text}' is invalid. `;
          const fromCli: string = cli.startsWith(prefix) ? cli.slice(prefix.length) : cli;
          assert.equal(fromCli.split(flag.long).join(key), lib, what);
        }
        compared++;
      }
    }
  }
  assert.ok(compared > 1000, `${compared} values compared`);
  // the options with their own parser: the same values accepted and refused
  const serveCommand = SERVE_OPTIONS.with(LISTEN_OPTIONS);
  for (const host of ['', ' ', '\t', ' 127.0.0.1', '127.0.0.1', '0.0.0.0', 'localhost', '::1']) {
    const cli = parse(serveCommand, ['--model', 'm=a', '--host', host]).error ?? null;
    const lib = message(() => LISTEN_OPTIONS.resolve({ host }));
    assert.equal(cli === null, lib === null, JSON.stringify(host));
    if (lib) assert.match(cli!, /is invalid\. expected an address or host name .*: an empty one would listen on every interface$/);
  }
  for (const [mb, bytes] of [['1', 2 ** 20], ['2048', 2 ** 31], ['0.001', 1049]] as const) {
    assert.equal(fromFlags(serveCommand, parse(serveCommand, ['--model', 'm=a', '--max-body-mb', mb]).values!).config.maxBodyBytes, bytes);
    assert.equal(SERVE_OPTIONS.resolve({ models: { m: 'a' }, maxBodyBytes: bytes }).maxBodyBytes, bytes);
  }
  for (const spec of ['m', '=a', 'm=', '__proto__=a', 'a/b=c']) {
    assert.ok(parse(serveCommand, ['--model', spec]).error, spec);
  }
  assert.throws(() => SERVE_OPTIONS.resolve({ models: JSON.parse('{"__proto__": "a"}') }), /model name "__proto__"/);
});

test('every constant default passes its own check, and commander shows it', () => {
  for (const set of [TRAIN_LIKE, SERVE_OPTIONS, LISTEN_OPTIONS, EVAL_OPTIONS, CLASSIFIER_OPTIONS, VISUALIZE_OPTIONS, STEP_BENCH_OPTIONS, TRAIN_BENCH_OPTIONS, DDP_BENCH_OPTIONS] as OptionSet<Declarations>[]) {
    for (const [key, option] of Object.entries(set.declarations)) {
      if (option.default === undefined || option.default === null) continue;
      assert.deepEqual(option.check(option.default, key), option.default, `${set.name}: ${key}`);
    }
  }
});
