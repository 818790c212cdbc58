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
