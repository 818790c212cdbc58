#!/usr/bin/env node
// The `resnet-native` command. Errors print as one line (stack with --verbose); exit codes:
// 0 success, 1 failure, 2 bad usage.
import { Command, CommanderError } from 'commander';

const program = new Command();
program
  .name('resnet-native')
  .description('Train and run ResNet image classifiers on libtorch from Node.js')
  .option('--verbose', 'print stack traces with errors')
  .exitOverride();

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

program
  .command('show-data')
  .description('save the first 6 training images of a batch with their class names as a PNG grid')
  .option('--data <dir>', 'CIFAR-10 folder (default: the built-in synthetic set)')
  .option('--out <file>', 'output PNG', 'samples.png')
  .option('--seed <n>', 'shuffle seed', '0')
  .action(async (opts: { data?: string; out: string; seed: string }) => {
    const { showData } = await import('../data/show.js');
    const result = await showData({ data: opts.data, out: opts.out, seed: Number(opts.seed) });
    if (result.synthetic) console.log('Using the built-in SYNTHETIC dataset (no --data given): these are not CIFAR-10 images.');
    console.log(`Image shape: (${result.imageShape.join(', ')}), Label shape: (${result.labelShape.join(', ')})`);
    console.log(`Labels: ${result.labels.join(', ')}`);
    console.log(`Saved ${result.out}`);
  });

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
    return 1;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
