// One of our processes in `bench --suite ddp` (src/bench/ddp.ts): training steps of a ResNet at
// 32x32 on fixed random data, alone or as one rank of DistributedDataParallel (Gloo), the group
// from the environment. Prints this rank's step times as one JSON line.
// Usage: node ddp-rank.js ARCH GLOBAL_BATCH STEPS WARMUP WORLD THREADS
import { setThreadNumThreads, manualSeed } from '../device';
import { DistributedDataParallel } from '../distributed/ddp';
import { initProcessGroup } from '../distributed/process-group';
import { resnet18, resnet50 } from '../models/resnet';
import { crossEntropy } from '../nn/functional';
import { SGD } from '../optim/sgd';
import { randint, randn, tidy } from '../tensor';

const [arch, batch, steps, warmup, world, threads] = [process.argv[2], ...process.argv.slice(3, 8).map(Number)];
setThreadNumThreads(threads);
manualSeed(0);
const model = (arch === 'resnet50' ? resnet50 : resnet18)({ numClasses: 10, device: 'cpu' });
const group = world > 1 ? initProcessGroup({ timeoutMs: 120_000 }) : null;
const ddp = group ? new DistributedDataParallel(model, group) : null;
const share = batch / world;
const x = randn([share, 3, 32, 32], { device: 'cpu' });
const y = randint(0, 10, [share], { device: 'cpu' });
const opt = new SGD(model.namedParameters(), { lr: 0.01, momentum: 0.9 });
const times: number[] = [];
for (let i = 0; i < warmup + steps; i++) {
  group?.barrier();
  const t0 = performance.now();
  opt.zeroGrad();
  tidy(() => crossEntropy((ddp ?? model).forward(x), y).backward());
  opt.step();
  if (i >= warmup) times.push((performance.now() - t0) / 1000);
}
console.log(JSON.stringify(times));
group?.destroy();
