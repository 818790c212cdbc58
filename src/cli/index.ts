#!/usr/bin/env node
// The `resnet-native` command. Errors print as one line (stack with --verbose); exit codes:
// 0 success, 1 failure, 2 bad usage, 130 interrupted (Ctrl-C).
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DDP_BENCH_OPTIONS, STEP_BENCH_OPTIONS, TRAIN_BENCH_OPTIONS } from '../bench/options';
import { CLASSIFIER_OPTIONS, EVAL_OPTIONS, VISUALIZE_OPTIONS } from '../inference/options';
import { boolean, choice, declareOptions, path } from '../options/declare';
import { addFlags, cliValues, fromFlags } from '../options/flags';
import { LISTEN_OPTIONS, SERVE_OPTIONS } from '../serve/options';
import { TRAIN_COMMAND_OPTIONS, TRAIN_OPTIONS } from '../train/options';

const program = new Command();
program
  .name('resnet-native')
  .description('Train and run ResNet image classifiers on libtorch from Node.js')
  .option('--verbose', 'print stack traces with errors')
  .exitOverride();

// Number('') and Number(' ') are 0: an empty variable in a script must not become a seed or a port.
const integer = (min: number, max = Number.MAX_SAFE_INTEGER) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got '${value}'`);
  }
  return n;
};

program
  .command('doctor')
  .description('show the libtorch in use, CPU/CUDA build, CUDA devices, cuDNN, threads and addon ABI')
  .option('--json', 'print the report as JSON')
  .action(async (opts: { json?: boolean }) => {
    const { doctorReport, formatDoctorReport } = await import('../doctor.js');
    const report = doctorReport();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
  });

program
  .command('download')
  .description('download the CIFAR-10 binary archive (md5-verified, resumable) and extract it')
  .option('--dir <dir>', 'where to put cifar-10-batches-bin', 'data')
  .option('--url <url>', 'archive URL (a mirror)')
  .option('--md5 <md5>', 'expected md5 of the archive (with --url)')
  .action(async (opts: { dir: string; url?: string; md5?: string }) => {
    const { downloadCifar10 } = await import('../data/download.js');
    const { progressReporter } = await import('./progress.js');
    const progress = progressReporter('CIFAR-10');
    try {
      const result = await downloadCifar10({ dir: opts.dir, url: opts.url, md5: opts.md5, onProgress: progress.update, log: progress.log });
      progress.stop();
      console.log(result.status === 'present' ? `CIFAR-10 is already in ${result.folder}` : `CIFAR-10 ready in ${result.folder}`);
    } finally {
      progress.stop();
    }
  });

// Pretrained weights by name (io/pretrained.ts); `train --weights <name>` downloads by itself too.
const weightsCommand = program
  .command('weights')
  .description("torchvision's ImageNet ResNet weights by name (for --weights): list them, or download them into the cache");
weightsCommand
  .command('list')
  .description('the names, their ImageNet accuracy and evaluation sizes, and where each is cached')
  .option('--json', 'print the list as JSON')
  .action(async (opts: { json?: boolean }) => {
    const { PRETRAINED_WEIGHTS, cachedPretrained, weightsCacheDir } = await import('../io/pretrained.js');
    const rows = PRETRAINED_WEIGHTS.map((w) => ({ ...w, cached: cachedPretrained(w) }));
    if (opts.json) return console.log(JSON.stringify(rows, null, 2));
    console.log(`cache: ${weightsCacheDir()} (RESNET_NATIVE_CACHE/weights)`);
    for (const w of rows) {
      const sizes = `resize ${w.evalTransform.resizeSize} crop ${w.evalTransform.cropSize}`;
      console.log(`${w.name.padEnd(22)} ${w.torchvisionName.padEnd(32)} acc@1 ${w.metrics.acc1.toFixed(3)}  ${sizes}  ${w.cached ?? 'not downloaded'}`);
    }
  });
weightsCommand
  .command('download')
  .description('download pretrained weights into the cache (sha256-checked as torchvision does, resumable) and print where they are')
  .argument('<names...>', "names from 'weights list' (e.g. resnet50.imagenet1k_v2 or ResNet50_Weights.IMAGENET1K_V2)")
  .action(async (names: string[]) => {
    const { downloadPretrained, resolvePretrained } = await import('../io/pretrained.js');
    usage(() => names.map((name) => resolvePretrained(name))); // every name known before any download
    const { progressReporter } = await import('./progress.js');
    for (const name of names) {
      const progress = progressReporter(name);
      try {
        const result = await downloadPretrained(name, { onProgress: progress.update, log: progress.log });
        progress.stop();
        console.log(result.status === 'present' ? `${result.weights.name} is already in ${result.file}` : `${result.weights.name} ready in ${result.file}`);
      } finally {
        progress.stop();
      }
    }
  });

program
  .command('show-data')
  .description('save the first 6 training images of a batch with their class names as a PNG grid')
  .option('--data <path>', 'your images (class folders, a .csv / .jsonl manifest) or CIFAR-10 (default: the built-in synthetic set)')
  .option('--out <file>', 'output PNG', 'samples.png')
  .option('--seed <n>', 'shuffle seed', integer(0), 0)
  .action(async (opts: { data?: string; out: string; seed: number }) => {
    const { showData } = await import('../data/show.js');
    const result = await showData({ data: opts.data, out: opts.out, seed: opts.seed });
    if (result.synthetic) console.log('Using the built-in SYNTHETIC dataset (no --data given): these are not CIFAR-10 images.');
    console.log(`Image shape: (${result.imageShape.join(', ')}), Label shape: (${result.labelShape.join(', ')})`);
    console.log(`Labels: ${result.labels.join(', ')}`);
    console.log(`Saved ${result.out}`);
  });

addFlags(
  program
    .command('train')
    .description("train a ResNet on your images (class folders or a .csv / .jsonl manifest: the ImageNet recipe) or CIFAR-10 as the tutorial does (defaults: resnet50, batch 256, 5 epochs, lr 1e-3 -> 1e-5 cosine, momentum 0.9); without --data on a built-in synthetic set"),
  TRAIN_OPTIONS.with(TRAIN_COMMAND_OPTIONS),
)
  .addHelpText(
    'after',
    '\nData-parallel training: --nproc-per-node N starts N ranks here (one process each: Gloo on the CPU, or with\n' +
      '--device cuda NCCL, rank r of a machine on GPU cuda:r); a process\n' +
      'started by torchrun or a PyTorchJob (RANK and WORLD_SIZE set) joins its group by itself. Log lines and\n' +
      'checkpoints come from rank 0; the checkpoint is the one a single process writes.',
  )
  .action(async (opts: FlagValues) => {
    // Every option is checked here, once (each flag as it was read, then the options together),
    // before any rank or training thread starts, so that bad usage exits 2 at once.
    const { TRAIN_COMMAND_SET } = await import('../train/config.js');
    const { nprocPerNode, nnodes, nodeRank, masterAddr, masterPort, timeout } = cliValues(TRAIN_COMMAND_SET, opts);
    if (nprocPerNode !== undefined && nodeRank >= nnodes) throw new UsageError(`--node-rank ${nodeRank} must be below --nnodes ${nnodes}`);
    // Started as one rank of a group (by the launcher below, torchrun, a PyTorchJob): join it. The
    // launcher checks as its first rank will, with the group it is about to start.
    const joined = nprocPerNode === undefined && Number(process.env.WORLD_SIZE ?? '1') > 1 ? { timeoutMs: timeout * 1000 } : undefined;
    const launched = nprocPerNode === undefined ? undefined : { rank: nodeRank * nprocPerNode, worldSize: nprocPerNode * nnodes, masterAddr, masterPort: masterPort ?? 29500, timeoutMs: timeout * 1000 };
    let config;
    try {
      config = fromFlags(TRAIN_COMMAND_SET, opts, { distributed: launched ?? joined ?? null }).config;
    } catch (err) {
      throw new UsageError(withFlags((err as Error).message, 'train'));
    }
    if (nprocPerNode !== undefined) {
      const { launchRanks, rankArguments } = await import('./launch.js');
      const args = rankArguments(process.argv.slice(process.argv.indexOf('train') + 1));
      process.exitCode = await launchRanks(process.argv[1], args, { nprocPerNode, nnodes, nodeRank, masterAddr, masterPort }, (l) => process.stderr.write(`resnet-native: ${l}\n`));
      return;
    }
    const { startTraining } = await import('../train/api.js');
    const { trainReporter } = await import('./progress.js');
    const reporter = trainReporter(Boolean(opts.json));
    // Training runs on a worker thread: this one stays free for Ctrl-C and for SIGTERM / SIGHUP
    // (how container platforms and terminals stop jobs), which stop the run at the next step
    // boundary; a second signal ends the process at once. Interrupted runs exit 128 + signal.
    const SIGNAL_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
    let interrupted: keyof typeof SIGNAL_CODES | null = null;
    const onSignal = (signal: keyof typeof SIGNAL_CODES) => {
      if (interrupted) process.exit(SIGNAL_CODES[signal]);
      interrupted = signal;
      process.stderr.write(`\n${signal}: stopping at the next step (${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to quit now)\n`);
      handle.cancel();
    };
    const handle = startTraining(config, { onLine: reporter.line, onEvent: reporter.event });
    const signals = Object.keys(SIGNAL_CODES) as (keyof typeof SIGNAL_CODES)[];
    for (const signal of signals) process.on(signal, onSignal);
    // A rank of `train --nproc-per-node` whose launcher has died (kill -9 too) stops as on SIGTERM;
    // one that cannot reach a step boundary ends anyway, 30 s later: by SIGKILL, since exit()
    // would wait for a training thread blocked in a collective (native code, not interruptible).
    const { watchLauncher } = await import('./launch.js');
    watchLauncher(() => {
      process.stderr.write('resnet-native: the launcher of this rank has ended\n');
      if (!interrupted) onSignal('SIGTERM');
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 30_000).unref();
    });
    try {
      await handle.result;
    } catch (err) {
      if (!interrupted) throw err;
      process.stderr.write(`resnet-native: ${(err as Error).message}\n`);
    } finally {
      reporter.stop();
      for (const signal of signals) process.removeListener(signal, onSignal);
      // Interrupted after the last step too (during the last evaluation or save): not a success.
      if (interrupted) process.exitCode = SIGNAL_CODES[interrupted];
    }
  });

// The commands below take their options from declarations (options/declare.ts): the library's
// own (EVAL_OPTIONS, ...) and the command line's (a checkpoint to read, --json). Each flag's value
// is checked as it is read, with the library's check and message: bad usage exits 2 naming it.
/** What commander gives an action: each flag's value by its camel-cased name. */
type FlagValues = Readonly<Record<string, unknown>>;
const CHECKPOINT = path({ cliOnly: true, required: true, help: 'a checkpoint written by train', flag: { value: '<file>' } });
const jsonOutput = (help: string) => boolean({ cliOnly: true, help });

const EVAL_COMMAND = declareOptions({ checkpoint: CHECKPOINT }).with(EVAL_OPTIONS).with({ json: jsonOutput('print the result as JSON') });
addFlags(
  program.command('eval').description('accuracy (and per-class accuracy) of a checkpoint on the test split'),
  EVAL_COMMAND,
).action(async (values: FlagValues) => {
  const { config, cli } = usage(() => fromFlags(EVAL_COMMAND, values));
  const { evaluateCheckpoint } = await import('../train/evaluate-checkpoint.js');
  const result = await evaluateCheckpoint(cli.checkpoint, config);
  if (cli.json) {
    console.log(JSON.stringify(result));
    return;
  }
  if (result.synthetic) console.log('Evaluating on the built-in SYNTHETIC test set (no --data given).');
  console.log(`Accuracy: [${result.accuracy.toFixed(3)}] on ${result.count} images, loss ${result.loss.toFixed(3)}`);
  const width = Math.max(...result.classNames.map((n) => n.length));
  result.classNames.forEach((name, i) => console.log(`  ${name.padEnd(width)}  ${result.perClass[i].toFixed(3)}`));
});

const PREDICT_COMMAND = declareOptions({ checkpoint: CHECKPOINT }).with(CLASSIFIER_OPTIONS).with({ json: jsonOutput('one JSON object per image') });
addFlags(
  program.command('predict').description('classify image files (any format sharp reads) with a checkpoint: top-k classes with probabilities'),
  PREDICT_COMMAND,
)
  .argument('<images...>', 'image files')
  .action(async (files: string[], values: FlagValues) => {
    const { config, cli } = usage(() => fromFlags(PREDICT_COMMAND, values));
    const { readRegularFile } = await import('../io/files.js');
    const { Classifier } = await import('../inference/classifier.js');
    const inputs = files.map((file) => readRegularFile(file, 'image'));
    const classifier = await Classifier.load(cli.checkpoint, config);
    try {
      const predictions = await Promise.all(
        inputs.map((input, i) =>
          classifier.classify(input).catch((err: Error) => {
            throw new Error(`${files[i]}: ${err.message}`);
          }),
        ),
      );
      predictions.forEach((p, i) => {
        if (cli.json) console.log(JSON.stringify({ file: files[i], label: p.label, probability: p.probability, top: p.top }));
        else console.log(`${files[i]}: ${p.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(', ')}`);
      });
    } finally {
      await classifier.close();
    }
  });

const SERVE_COMMAND = SERVE_OPTIONS.with(LISTEN_OPTIONS);
addFlags(
  program.command('serve').description('an inference server speaking the Open Inference Protocol (KServe v2) over HTTP, with dynamic batching and Prometheus metrics'),
  SERVE_COMMAND,
).action(async (values: FlagValues) => {
  // Every option was checked as its flag was read, before a model is loaded: a bad one exits 2 naming its flag.
  const { config } = usage(() => fromFlags(SERVE_COMMAND, values));
  // On a thread of its own: its young generation is sized for a server (see server-thread.ts).
  const { startServerThread } = await import('../serve/server-thread.js');
  // (the config holds both: each part takes its own, as resolved)
  const server = await startServerThread(config, config);
  const names = server.models.map(({ name, info }) => `${name} (${info.arch}, ${info.classNames.length} classes, ${info.device})`);
  console.log(`resnet-native serve: listening on ${server.address}; ready: ${names.join(', ')}`);
  // SIGTERM / SIGINT: stop accepting, answer what was accepted, exit 0.
  await new Promise<void>((resolve, reject) => {
    const stop = (signal: string) => {
      console.log(`resnet-native serve: ${signal}: answering requests in flight, then stopping`);
      void server.close().then(resolve, reject);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    server.onEnd((err) => reject(new Error(`the server stopped: ${err.message}`)));
  });
  console.log('resnet-native serve: stopped');
});

program
  .command('plot')
  .description('draw the training curves (loss, accuracy, learning rate) of a run, finished or running, as a PNG')
  .argument('<source>', "a --logdir run folder (TensorBoard event files), a checkpoint folder (its metrics.ndjson), or the output of 'train --json'")
  .option('--out <file>', 'output PNG', 'curves.png')
  .action(async (source: string, opts: { out: string }) => {
    const { plotRun } = await import('../plot/index.js');
    const result = await plotRun(source, opts.out);
    console.log(`Saved ${result.out}: ${result.steps} steps, ${result.epochs} epochs`);
  });

const VISUALIZE_COMMAND = declareOptions({ checkpoint: CHECKPOINT }).with(VISUALIZE_OPTIONS);
addFlags(
  program.command('visualize').description("save the tutorial's prediction figure: 6 test images titled predict:<class>, blue when right, red when wrong"),
  VISUALIZE_COMMAND,
).action(async (values: FlagValues) => {
  const { config, cli } = usage(() => fromFlags(VISUALIZE_COMMAND, values));
  const { visualizePredictions } = await import('../inference/visualize.js');
  const result = await visualizePredictions(cli.checkpoint, config);
  if (result.synthetic) console.log('Using the built-in SYNTHETIC test set (no --data given).');
  for (const it of result.items) console.log(`predict:${it.predicted} (actual ${it.actual}) ${it.correct ? 'right' : 'wrong'}`);
  console.log(`Saved ${result.out}`);
});

// The suites' options, one flag each (an option two suites share is one flag), and the command's own.
const BENCH_SUITE = declareOptions({
  suite: choice(['step', 'train', 'all', 'ddp'], {
    cliOnly: true,
    default: 'all',
    help: "'step' (one step, one pass), 'train' (the train command end to end), 'all' (both), or 'ddp' (data-parallel steps against PyTorch DDP)",
    flag: { value: '<name>' },
  }),
});
const BENCH_OUTPUT = declareOptions({
  torch: boolean({ cliOnly: true, default: true, help: 'skip the PyTorch comparison' }),
  json: jsonOutput('print the result as JSON'),
});
const bench = program
  .command('bench')
  .description(
    'speed against PyTorch in the same run: ResNet50 training-step and inference images/s (and peak RSS), the data pipeline, ' +
      'and the whole train command end to end (data files, augmentation, steps, evaluation, checkpoints)',
  );
for (const set of [BENCH_SUITE, STEP_BENCH_OPTIONS, TRAIN_BENCH_OPTIONS, DDP_BENCH_OPTIONS, BENCH_OUTPUT]) addFlags(bench, set);
bench.action(async (values: FlagValues) => {
  const { suite } = fromFlags(BENCH_SUITE, values).cli;
  const { torch, json } = fromFlags(BENCH_OUTPUT, values).cli;
  // (what the command works out itself: no PyTorch with --no-torch, progress on stderr without --json)
  const computed = { ...(torch ? {} : { python: null }), log: json ? undefined : (l: string) => process.stderr.write(`${l}\n`) };
  const step = usage(() => fromFlags(STEP_BENCH_OPTIONS, values, computed).config);
  const out: Record<string, unknown> = {};
  if (suite === 'ddp') {
    // (--steps and --warmup are the step suite's; the ddp suite times twice as many steps, one more warm-up)
    const ddp = usage(() => fromFlags(DDP_BENCH_OPTIONS, values, { ...computed, steps: step.steps * 2, warmup: step.warmup + 1 }).config);
    const { runDdpBenchmark, formatDdpBenchmark } = await import('../bench/ddp.js');
    const result = await runDdpBenchmark(ddp);
    console.log(json ? JSON.stringify(result) : formatDdpBenchmark(result));
    return;
  }
  const train = usage(() => fromFlags(TRAIN_BENCH_OPTIONS, values, computed).config);
  if (suite !== 'train') {
    const { runBenchmark, formatBenchmark } = await import('../bench/run.js');
    const result = runBenchmark(step);
    if (json) out.step = result;
    else console.log(formatBenchmark(result));
  }
  if (suite !== 'step') {
    const { runTrainBenchmark, formatTrainBenchmark } = await import('../bench/train-run.js');
    const result = runTrainBenchmark(train);
    if (json) out.train = result;
    else console.log(`${suite === 'all' ? '\n' : ''}${formatTrainBenchmark(result)}`);
  }
  // JSON: the suite's own result, or both under 'step' and 'train'.
  if (json) console.log(JSON.stringify(suite === 'all' ? out : out[suite]));
});

/** Options that commander accepted one by one but that do not work (alone or together): exit 2. */
class UsageError extends Error {}

/** `make()`, its errors bad usage (exit 2). */
function usage<T>(make: () => T): T {
  try {
    return make();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The library names an option as its API does ('for labelSmoothing'); on the command line the
 * user typed a flag: name that (`for --label-smoothing`) where the command has it. */
function withFlags(message: string, command: string): string {
  const cmd = program.commands.find((c) => c.name() === command);
  const flags = new Map<string, string>(cmd?.options.map((o) => [o.attributeName(), o.long ?? '']) ?? []);
  flags.set('logDir', '--logdir');
  return message.replace(/\bfor (\w+)\b/g, (whole, name: string) => (flags.get(name) ? `for ${flags.get(name)}` : whole));
}

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed.
      return err.exitCode === 0 ? 0 : 2;
    }
    const verbose = argv.includes('--verbose');
    console.error(`resnet-native: ${verbose ? ((err as Error).stack ?? String(err)) : ((err as Error).message ?? String(err))}`);
    return err instanceof UsageError ? 2 : 1;
  }
}

// A closed pipe (`resnet-native train --json | head`) ends the program quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv).then((code) => {
  if (!process.exitCode) process.exitCode = code;
});
