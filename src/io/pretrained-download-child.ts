// The process a synchronous API (resnet50({ weights: 'resnet50.imagenet1k_v2' }), a training
// thread building its model) downloads pretrained weights in, while it waits (pretrained.ts's
// downloadInChild): the request is argv[2] (JSON), the progress bar and messages go to stderr
// (the caller's own), and the answer is one JSON line on stdout.
import { progressReporter } from '../cli/progress';
import { downloadPretrained, downloadWeightsFile, type ChildDownloadAnswer, type ChildDownloadRequest } from './pretrained';

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '{}') as ChildDownloadRequest;
  const label = 'name' in request ? request.name : request.url;
  const progress = request.progress ? progressReporter(label) : null;
  const hooks = { onProgress: progress?.update, log: progress?.log };
  let answer: ChildDownloadAnswer;
  try {
    const result = 'name' in request ? await downloadPretrained(request.name, hooks) : await downloadWeightsFile(request.url, { ...hooks, dir: request.dir });
    progress?.stop();
    if (result.status !== 'present') progress?.log(`${label}: saved ${result.file}`);
    answer = { ok: true, file: result.file, status: result.status };
  } catch (err) {
    progress?.stop();
    answer = { ok: false, className: (err as Error).constructor?.name ?? 'Error', message: (err as Error).message ?? String(err) };
    process.exitCode = 1;
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

void main();
