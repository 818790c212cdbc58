// One benchmark case in its own process (so its peak RSS is its own): ResNet50, 10 classes,
// 32x32 input, a training step (forward + loss + backward + SGD) or an inference pass, on a
// device, optionally with mixed precision. Loss / argmax read back each step, which syncs CUDA.
// Prints one JSON line. Run by src/bench/run.ts.
import { parseArgs } from 'node:util';
import { autocast, inferenceMode } from '../autograd';
import { getNumThreads, manualSeed, setCudnnBenchmark, setNumThreads, type Device } from '../device';
import { native } from '../native';
import { crossEntropy } from '../nn/functional';
import { Conv2d } from '../nn/layers';
import { resnet50 } from '../models/resnet';
import { GradScaler, backwardAndStep } from '../optim/grad-scaler';
import { median } from './stats';
import { SGD } from '../optim/sgd';
import { keep, memory, randint, randn, tidy, type Tensor } from '../tensor';
import { CudaGraph, onSideStream } from '../cuda-graph';
import { GraphedTrainStep } from '../train/graphed-step';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    batch: { type: 'string' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: '0' },
    device: { type: 'string', default: 'cpu' },
    amp: { type: 'string' },
    'channels-last': { type: 'boolean', default: false },
    'cuda-graph': { type: 'boolean', default: false },
    half: { type: 'string' },
  },
});
const batch = Number(values.batch);
const threads = Number(values.threads);
if (threads > 0) setNumThreads(threads);
manualSeed(0);
const device = values.device as Device;
const amp = values.amp as 'bfloat16' | 'float16' | undefined;
const channelsLast = values['channels-last']!;
const cudaGraph = values['cuda-graph']!;
setCudnnBenchmark(true);
const half = values.half as 'bfloat16' | 'float16' | undefined;
const model = resnet50({ numClasses: 10, device });
if (half) model.toHalfPrecision(half);
if (channelsLast) model.toMemoryFormat('channels_last');
const x = keep(randn([batch, 3, 32, 32], { device }).contiguous(channelsLast ? 'channels_last' : 'contiguous'));
const y = randint(0, 10, [batch], { device });
const forward = (input: Tensor) => (amp ? autocast(() => model.forward(input), { deviceType: device === 'cpu' ? 'cpu' : 'cuda', dtype: amp }) : model.forward(input));
const optimizer = new SGD(model.namedParameters(), { lr: 1e-3, momentum: 0.9, capturable: cudaGraph });
// float16 training steps scale the loss, as training does (not capturable: eager steps only).
const scaler = amp === 'float16' && !cudaGraph ? new GradScaler() : null;

// Count calls into the addon during one step: with the cost of a trivial call, an upper bound of
// the time spent in the binding rather than in libtorch's kernels.
let calls = 0;
for (const group of [native.ops, native.autograd] as unknown as Record<string, (...a: unknown[]) => unknown>[]) {
  for (const [name, fn] of Object.entries(group)) {
    group[name] = (...args: unknown[]) => {
      calls++;
      return fn(...args);
    };
  }
}

// The native modules' forward (their methods are read-only): count at the TypeScript layer.
{
  const proto = Object.getPrototypeOf(Conv2d.prototype) as { forward: (...a: unknown[]) => unknown };
  const forward = proto.forward;
  proto.forward = function (this: unknown, ...args: unknown[]) {
    calls++;
    return forward.apply(this, args);
  };
}

const forwardLoss = (input: Tensor, labels: Tensor) => crossEntropy(forward(input).to('float32'), labels);
const trainStep = () =>
  tidy(() => {
    const loss = forwardLoss(x, y);
    backwardAndStep(loss, optimizer, scaler);
    return loss.item();
  });
const inferStep = () => inferenceMode(() => tidy(() => forward(x).argmax(1).toArray()));

// CUDA graphs: 3 eager steps on a side stream, then the capture (graphedTrain does the same).
const graphedTrain = cudaGraph ? new GraphedTrainStep(forwardLoss, optimizer, device, { warmupSteps: 3 }) : null;
function graphedInfer(): () => unknown {
  const graph = new CudaGraph(device);
  const input = keep(x.clone());
  for (let i = 0; i < 3; i++) onSideStream(device, inferStep);
  const classes = graph.capture(() => inferenceMode(() => tidy(() => keep(forward(input).argmax(1)))));
  return () => {
    input.copy_(x);
    graph.replay();
    return classes.toArray();
  };
}

const training = values.mode === 'train';
if (training) model.train();
else model.eval();
const step = training ? (graphedTrain ? () => graphedTrain.step(x, y) : trainStep) : cudaGraph ? graphedInfer() : inferStep;

const times: number[] = [];
// With graphs the timed steps are replays: the training step is captured at its 4th call.
const warmup = cudaGraph ? Math.max(Number(values.warmup), 4) : Number(values.warmup);
let callsPerStep = 0;
let faultsBefore = 0;
for (let i = 0; i < warmup + Number(values.steps); i++) {
  if (i === warmup) faultsBefore = process.resourceUsage().minorPageFault;
  const before = calls;
  const t0 = performance.now();
  step();
  const dt = (performance.now() - t0) / 1000;
  if (i >= warmup) times.push(dt);
  callsPerStep = calls - before;
}
// Minor page faults of the timed steps: memory given back to the OS and faulted in again.
const pageFaultsPerStep = (process.resourceUsage().minorPageFault - faultsBefore) / times.length;
// The cost of one trivial call through the binding (dispatch of a 1-element op included).
const one = randn([1], { device: 'cpu' });
const t0 = performance.now();
for (let i = 0; i < 20000; i++) one.add(1).dispose();
const secondsPerCall = (performance.now() - t0) / 1000 / 20000;
const medianStep = median(times);
console.log(
  JSON.stringify({
    impl: 'resnet-native',
    mode: values.mode,
    batch,
    device,
    amp: amp ?? null,
    channelsLast,
    cudaGraph,
    half: half ?? null,
    threads: getNumThreads(),
    medianStepSeconds: medianStep,
    imagesPerSecond: batch / medianStep,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    pageFaultsPerStep,
    peakCudaBytes: device === 'cpu' ? null : memory().cuda.peakAllocatedBytes,
    callsPerStep,
    bindingShare: (callsPerStep * secondsPerCall) / medianStep,
  }),
);
