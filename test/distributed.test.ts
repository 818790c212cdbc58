// Process groups on libtorch's c10d (TCPStore + Gloo), two ranks on loopback in two processes:
// the collectives' results, options from a launcher's environment, and errors that name the rank.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { DataLoader, DistributedDataParallel, DistributedError, ProcessGroup, SGD, checkTrainOptions, cuda, manualSeed, randint, randn, distributedUnavailableReason, doctorReport, evaluate, initProcessGroup, nn, ones, readCheckpoint, resolveProcessGroupOptions, runTraining, syntheticDataset, testTransforms } from '../src/index';
import { rankDevice } from '../src/train/strategy';
import { native } from '../src/native';
import { freePort } from '../src/distributed/ports';
import { assertClose, loadFixture, tempDir, type FixtureTensor } from './helpers';

// The ranks load the TypeScript sources (through tsx), as test/small-net.ts does: one Tensor class.
const dist = path.resolve(__dirname, '..', 'src', 'index.ts');
const available = distributedUnavailableReason() === null;

/** Runs `body` (JavaScript, with `pg` joined from the environment) as `worldSize` ranks. */
async function ranks(worldSize: number, body: string, options: { join?: boolean } = {}): Promise<{ code: number | null; out: string; err: string }[]> {
  const port = await freePort();
  const script = `
    const rn = require(${JSON.stringify(dist)});
    const helpers = () => require(${JSON.stringify(path.join(__dirname, 'small-net.ts'))});
    const pg = ${options.join === false ? 'null' : 'rn.initProcessGroup({ timeoutMs: 20000 })'};
    const out = (v) => console.log(JSON.stringify(v));
    ${body}
  `;
  return Promise.all(
    Array.from({ length: worldSize }, (_, rank) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
        env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      return new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
    }),
  );
}

test('doctor says whether distributed training is available and why not', () => {
  const report = doctorReport();
  assert.equal(report.distributed.available, available);
  if (!available) assert.match(report.distributed.reason!, /libgloo-dev/);
  assert.equal(report.distributed.nccl, distributedUnavailableReason('nccl') === null);
  if (available && !report.distributed.nccl) assert.match(report.distributed.ncclReason!, /NCCL backend is not in this build/);
});

test('options come from the launcher environment; missing or bad ones are named', () => {
  const env = { RANK: '1', WORLD_SIZE: '4', MASTER_ADDR: '10.0.0.5', MASTER_PORT: '23456' };
  const o = resolveProcessGroupOptions({}, env);
  assert.deepEqual([o.rank, o.worldSize, o.host, o.port, o.isServer, o.hostname], [1, 4, '10.0.0.5', 23456, false, '']);
  assert.equal(resolveProcessGroupOptions({}, { ...env, RANK: '0' }).isServer, true, 'rank 0 serves the store');
  const agent = resolveProcessGroupOptions({}, { ...env, RANK: '0', TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2' });
  assert.equal(agent.isServer, false, "torchrun's agent serves the store");
  assert.equal(agent.prefix, 'resnet-native/attempt_2/');
  assert.equal(resolveProcessGroupOptions({ rank: 0, worldSize: 2 }, {}).hostname, '127.0.0.1', 'all on this machine: loopback');
  assert.equal(resolveProcessGroupOptions({ rank: 0, worldSize: 2, masterPort: 1234 }, {}).port, 1234);
  assert.throws(() => resolveProcessGroupOptions({}, {}), /No rank: pass rank, or start the process with RANK set/);
  assert.throws(() => resolveProcessGroupOptions({}, { RANK: '0' }), /No world size/);
  assert.throws(() => resolveProcessGroupOptions({}, { RANK: 'x', WORLD_SIZE: '2' }), /Expected an integer in \$RANK \(for rank\) but it is 'x'/);
  assert.throws(() => resolveProcessGroupOptions({ rank: 2, worldSize: 2 }, {}), /rank 2 is not below worldSize 2/);
  assert.throws(() => resolveProcessGroupOptions({ rank: 0, worldSize: 2, masterPort: 70000 }, {}), /masterPort 70000 is not a port/);
  assert.throws(() => resolveProcessGroupOptions({ rank: 0, worldSize: 2, backend: 'mpi' as never }, {}), /'gloo' or 'nccl'.*backend|backend.*'gloo' or 'nccl'/);
  // The local rank (torchrun's LOCAL_RANK) picks an NCCL rank's GPU; Gloo's tensors are on the CPU.
  assert.deepEqual([o.localRank, o.device], [0, 'cpu']);
  const nccl = resolveProcessGroupOptions({ backend: 'nccl' }, { ...env, LOCAL_RANK: '3' });
  assert.deepEqual([nccl.localRank, nccl.device], [3, 'cuda:3']);
  assert.equal(resolveProcessGroupOptions({ backend: 'nccl', device: 'cuda:1' }, env).device, 'cuda:1');
  assert.throws(() => resolveProcessGroupOptions({ backend: 'nccl', device: 'cpu' }, env), /the NCCL backend reduces CUDA tensors: its device cannot be 'cpu'/);
  assert.throws(() => resolveProcessGroupOptions({ backend: 'nccl', device: 'gpu' as never }, env), /'cpu', 'cuda' or 'cuda:N' for device/);
  assert.throws(() => resolveProcessGroupOptions({}, { ...env, LOCAL_RANK: '-1' }), /localRank/);
});

test('data-parallel training on GPUs: rank r of a machine trains on cuda:r; impossible combinations are refused before anything starts', () => {
  assert.equal(rankDevice('cuda', 1, 2), 'cuda:1');
  assert.equal(rankDevice('cuda:1', 0, 2), 'cuda:1', 'a device named by the user is kept');
  assert.equal(rankDevice('cpu', 5, 0), 'cpu');
  assert.throws(() => rankDevice('cuda', 2, 2), /this rank \(local rank 2\) would train on cuda:2, but this machine has 2 GPUs: start at most 2 ranks per machine \(--nproc-per-node\)/);
  assert.throws(() => rankDevice('cuda', 1, 1), /has 1 GPU: start at most 1 rank per machine/);
  assert.throws(() => checkTrainOptions({ device: 'cpu', distributed: { backend: 'nccl' } }), /the NCCL backend trains on GPUs, and the device is 'cpu'/);
  if (cuda.isAvailable()) {
    assert.throws(() => checkTrainOptions({ device: 'cuda', distributed: { backend: 'gloo' } }), /the Gloo backend reduces CPU tensors, and the device is 'cuda'/);
    assert.throws(() => checkTrainOptions({ device: 'cuda', cudaGraph: true, distributed: true }), /cudaGraph \(--cuda-graph\) and data-parallel ranks do not go together|needs the NCCL backend/);
  } else {
    assert.throws(() => checkTrainOptions({ device: 'cuda', distributed: true }), /Device 'cuda' requested but CUDA is not available/);
  }
});

test('two ranks: allReduce (sum, avg, max), broadcast, allGather and barrier give every rank the same answer', { skip: !available && 'built without gloo' }, async () => {
  const results = await ranks(
    2,
    `
    const r = pg.rank;
    const a = rn.tensor([r + 1, 10 * (r + 1)]);
    pg.allReduce(a, 'sum');
    const m = rn.tensor([r, -r]);
    pg.allReduce(m, 'max');
    const g = rn.tensor([1, 2, 3]).mul(r + 1);
    pg.allReduce(g, 'avg');
    const b = [rn.tensor([r, r]), rn.tensor([7 * r])];
    pg.broadcast(b, 1);
    const gathered = pg.allGather(rn.tensor([r * 100]));
    pg.barrier();
    out({ rank: r, worldSize: pg.worldSize, sum: a.toList(), max: m.toList(), avg: g.toList(), bcast: b.map((t) => t.toList()), gathered: gathered.map((t) => t.toList()) });
    pg.destroy();
  `,
  );
  for (const [rank, r] of results.entries()) {
    assert.equal(r.code, 0, r.err);
    const v = JSON.parse(r.out.trim());
    assert.deepEqual(v, { rank, worldSize: 2, sum: [3, 30], max: [1, 0], avg: [1.5, 3, 4.5], bcast: [[1, 1], [7]], gathered: [[0], [100]] });
  }
});

test('a rank that dies makes the other fail with a DistributedError naming both, not hang', { skip: !available && 'built without gloo' }, async () => {
  const t0 = performance.now();
  const results = await ranks(
    2,
    `
    if (pg.rank === 1) process.exit(3);
    try {
      for (let i = 0; i < 50; i++) { pg.allReduce(rn.ones([1000]), 'sum'); }
      out({ survived: true });
    } catch (e) {
      out({ name: e.name, message: e.message, rank: e.rank, failedRanks: e.failedRanks });
    }
  `,
  );
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(results[1].code, 3);
  const r0 = JSON.parse(results[0].out.trim());
  assert.equal(r0.name, 'DistributedError');
  assert.equal(r0.rank, 0);
  assert.deepEqual(r0.failedRanks, [1]);
  assert.match(r0.message, /^allReduce\(sum\) failed on rank 0 of 2: rank 1 stopped answering \(no heartbeat for 1.5 s: the process died or is stopped\)\. /);
  assert.doesNotMatch(results[0].err, /Exception raised from|frame #/, 'c10d prints no C++ backtraces unless TORCH_CPP_LOG_LEVEL asks');
  assert.ok(seconds < 20, `took ${seconds.toFixed(1)} s`);
});

test('rank 0 (the store) dies: rank 1 names it; a rank that hangs is named by the one left waiting', { skip: !available && 'built without gloo' }, async () => {
  const report = `
    catch (e) {
      out({ message: e.message, failedRanks: e.failedRanks });
    }`;
  const dead = await ranks(
    2,
    `
    pg.allReduce(rn.ones([4]));
    if (pg.rank === 0) process.kill(process.pid, 'SIGKILL');
    try { pg.allReduce(rn.ones([4])); out({ survived: true }); } ${report}
  `,
  );
  const r1 = JSON.parse(dead[1].out.trim());
  assert.deepEqual(r1.failedRanks, [0]);
  assert.match(r1.message, /^allReduce\(sum\) failed on rank 1 of 2: the rendezvous store \(served by rank 0\) cannot be reached, so rank 0 is gone/);
  // rank 1 is alive (its heartbeat goes on) but busy elsewhere past the 2 s timeout
  const hung = await ranks(
    2,
    `
    const group = rn.initProcessGroup({ timeoutMs: 2000 });
    group.allReduce(rn.ones([4]));
    if (group.rank === 1) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 6000); process.exit(0); }
    try { group.allReduce(rn.ones([4])); out({ survived: true }); } ${report}
  `,
    { join: false },
  );
  const r0 = JSON.parse(hung[0].out.trim());
  assert.deepEqual(r0.failedRanks, [1]);
  assert.match(r0.message, /^allReduce\(sum\) failed on rank 0 of 2: rank 1 is alive but did not reach this collective \(#2\): it hangs or fell behind\. Timed out waiting 2000ms/);
});

test('joining refuses a lone rank after the timeout, naming where it waited', { skip: !available && 'built without gloo' }, async () => {
  const port = await freePort();
  assert.throws(
    () => initProcessGroup({ rank: 1, worldSize: 2, masterPort: port, timeoutMs: 1500 }),
    (e: unknown) =>
      e instanceof DistributedError &&
      /rank 1 of 2 could not join the group: rank 1 of 2 could not reach the rendezvous store \(served by rank 0\) at 127\.0\.0\.1:\d+ within 1\.5 s: is rank 0 running, and were all ranks given the same MASTER_ADDR and MASTER_PORT\?/.test((e as Error).message),
  );
});

test('DistributedDataParallel: 2 ranks on half batches each end with the gradients of the whole batch, and stay in step', { skip: !available && 'built without gloo' }, async () => {
  const results = await ranks(
    2,
    `
    const { nn, tensor, manualSeed, randn, randint, noGrad, SGD, DistributedDataParallel } = rn;
    const make = () => new nn.Sequential(new nn.Linear({ inFeatures: 8, outFeatures: 16, device: 'cpu' }), new nn.ReLU(), new nn.Linear({ inFeatures: 16, outFeatures: 4, device: 'cpu' }));
    manualSeed(100 + pg.rank); // different initial weights: DDP must start everyone from rank 0's
    const model = make();
    const ddp = new DistributedDataParallel(model, pg);
    const reference = make();
    reference.loadStateDict(model.stateDict());
    manualSeed(7);
    const x = randn([8, 8], { device: 'cpu' });
    const y = randint(0, 4, [8], { device: 'cpu' });
    const half = (t) => t.narrow(0, pg.rank * 4, 4);
    const opt = new SGD(model.namedParameters(), { lr: 0.1, momentum: 0.9 });
    const refOpt = new SGD(reference.namedParameters(), { lr: 0.1, momentum: 0.9 });
    let worst = 0;
    for (let step = 0; step < 3; step++) {
      nn.functional.crossEntropy(ddp.forward(half(x)), half(y)).backward();
      nn.functional.crossEntropy(reference.forward(x), y).backward();
      const mine = Object.fromEntries(model.namedParameters());
      for (const [name, p] of reference.namedParameters()) {
        const a = mine[name].grad.toArray(), b = p.grad.toArray();
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + 1e-6));
      }
      opt.step(); opt.zeroGrad(); refOpt.step(); refOpt.zeroGrad();
    }
    const w = model.parameters()[0].toArray();
    out({ worst, firstWeights: Array.from(w.slice(0, 4)) });
    ddp.dispose();
    pg.destroy();
  `,
  );
  const [r0, r1] = results.map((r) => {
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out.trim());
  });
  // rtol 1e-5 (relative to |g| + 1e-6): the two sums differ only in the order of float32 additions
  assert.ok(r0.worst < 1e-5 && r1.worst < 1e-5, `largest relative gradient difference: ${r0.worst}, ${r1.worst}`);
  assert.deepEqual(r0.firstWeights, r1.firstWeights, 'both ranks hold the same weights after 3 steps');
});

test('DistributedDataParallel.noSync: gradients accumulate on each rank, then one synced backward averages the whole accumulated gradient', { skip: !available && 'built without gloo' }, async () => {
  const results = await ranks(
    2,
    `
    const { nn, manualSeed, randn, randint, SGD, DistributedDataParallel } = rn;
    const make = () => new nn.Sequential(new nn.Linear({ inFeatures: 8, outFeatures: 16, device: 'cpu' }), new nn.ReLU(), new nn.Linear({ inFeatures: 16, outFeatures: 4, device: 'cpu' }));
    manualSeed(3);
    const model = make();
    const ddp = new DistributedDataParallel(model, pg);
    const reference = make();
    reference.loadStateDict(model.stateDict());
    manualSeed(11);
    const x = randn([16, 8], { device: 'cpu' });
    const y = randint(0, 4, [16], { device: 'cpu' });
    // rank r: rows 8r .. 8r + 7, in two micro-batches of 4, each loss divided by 2
    const micro = (t, k) => t.narrow(0, pg.rank * 8 + k * 4, 4);
    const grads = (m) => m.namedParameters().map(([, p]) => Array.from(p.grad.toArray()));
    // largest difference relative to the size of that parameter's gradient (its largest |g|)
    const worstDiff = (a, b) => Math.max(...a.map((g, i) => { const scale = Math.max(...b[i].map(Math.abs)) + 1e-6; return Math.max(...g.map((v, j) => Math.abs(v - b[i][j]) / scale)); }));
    let localWorst = 0;
    let wholeWorst = 0;
    const opt = new SGD(model.namedParameters(), { lr: 0.1 });
    const refOpt = new SGD(reference.namedParameters(), { lr: 0.1 });
    for (let step = 0; step < 2; step++) {
      ddp.noSync(() => nn.functional.crossEntropy(ddp.forward(micro(x, 0)), micro(y, 0)).mul(0.5).backward());
      // inside noSync the gradient is this rank's own: half the first micro-batch's
      const local = make();
      local.loadStateDict(model.stateDict());
      nn.functional.crossEntropy(local.forward(micro(x, 0)), micro(y, 0)).mul(0.5).backward();
      localWorst = Math.max(localWorst, worstDiff(grads(model), grads(local)));
      const before = grads(model)[0].slice(0, 4);
      nn.functional.crossEntropy(ddp.forward(micro(x, 1)), micro(y, 1)).mul(0.5).backward();
      nn.functional.crossEntropy(reference.forward(x), y).backward();
      wholeWorst = Math.max(wholeWorst, worstDiff(grads(model), grads(reference)));
      out({ step, before });
      opt.step(); opt.zeroGrad(); refOpt.step(); refOpt.zeroGrad();
    }
    out({ localWorst, wholeWorst, weights: Array.from(model.parameters()[0].toArray().slice(0, 4)) });
    ddp.dispose();
    pg.destroy();
  `,
  );
  const [r0, r1] = results.map((r) => {
    assert.equal(r.code, 0, r.err);
    return r.out.trim().split('\n').map((l) => JSON.parse(l));
  });
  const [end0, end1] = [r0.at(-1), r1.at(-1)];
  // 1e-5 of each gradient's scale: sums of the same terms in another order
  assert.ok(end0.localWorst < 1e-5 && end1.localWorst < 1e-5, `inside noSync each rank keeps its own gradient: ${end0.localWorst}, ${end1.localWorst}`);
  assert.notDeepEqual(r0[0].before, r1[0].before, 'inside noSync the ranks hold different gradients (nothing was averaged)');
  assert.ok(end0.wholeWorst < 1e-5 && end1.wholeWorst < 1e-5, `after the synced backward: the gradient of the whole batch of 16: ${end0.wholeWorst}, ${end1.wholeWorst}`);
  assert.deepEqual(end0.weights, end1.weights, 'both ranks hold the same weights after 2 accumulated steps');
});

test('DistributedDataParallel follows PyTorch DDP step by step: 2 Gloo ranks, SmallNet with BatchNorm, SGD with momentum', { skip: !available && 'built without gloo' }, async () => {
  // Fixture: scripts/gen_fixtures.py ddp_trajectory (torch.nn.parallel.DistributedDataParallel,
  // 2 gloo ranks). Rank 1 starts from other weights: both must start from rank 0's; BatchNorm's
  // buffers are rank 0's before every forward. Tolerances: losses rtol 1e-5, weights, momentum-
  // driven updates and running statistics rtol 1e-4 / atol 1e-6 (float32, 4 steps).
  const fx = loadFixture<{ steps: number; ranks: { losses: number[]; final: Record<string, FixtureTensor> }[] }>('ddp_trajectory.json');
  const results = await ranks(
    2,
    `
    const { loadedSmallNet, smallNetBatch } = helpers();
    const net = loadedSmallNet();
    if (pg.rank === 1) rn.noGrad(() => { for (const p of net.parameters()) p.mul_(0.5); });
    net.train();
    const ddp = new rn.DistributedDataParallel(net, pg);
    const opt = new rn.SGD(net.namedParameters(), { lr: 0.05, momentum: 0.9 });
    const losses = [];
    for (let i = 0; i < ${fx.steps}; i++) {
      const [x, y] = smallNetBatch(i);
      const loss = rn.nn.functional.crossEntropy(ddp.forward(x.narrow(0, 2 * pg.rank, 2)), y.narrow(0, 2 * pg.rank, 2));
      loss.backward();
      opt.step();
      opt.zeroGrad();
      losses.push(loss.item());
    }
    out({ losses, final: Object.fromEntries(Object.entries(net.stateDict()).map(([k, t]) => [k, Array.from(t.toArray(), Number)])) });
  `,
  );
  for (const [rank, r] of results.entries()) {
    assert.equal(r.code, 0, r.err);
    const got = JSON.parse(r.out.trim());
    const want = fx.ranks[rank];
    assertClose(got.losses, want.losses, { rtol: 1e-5, atol: 0, what: `rank ${rank} losses` });
    assert.deepEqual(Object.keys(got.final).sort(), Object.keys(want.final).sort());
    for (const [key, expected] of Object.entries(want.final)) assertClose(got.final[key], expected.values, { rtol: 1e-4, atol: 1e-6, what: `rank ${rank} ${key}` });
  }
});

test('train --nproc-per-node 2: one set of log lines, checkpoints a single process can read and resume', { skip: !available && 'built without gloo' }, async () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const dir = tempDir('rn-ddp-cli-');
  const common = ['--arch', 'resnet18', '--batch-size', '16', '--max-steps-per-epoch', '3', '--log-every', '1', '--device', 'cpu', '--checkpoint-dir', dir];
  const res = spawnSync(process.execPath, [cli, 'train', '--nproc-per-node', '2', '--epochs', '2', ...common], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const lines = res.stdout.trim().split('\n');
  assert.match(lines[0], /^Data-parallel: 2 ranks, each 8 images of every global batch of 16/);
  assert.equal(lines.filter((l) => /Average Train Loss/.test(l)).length, 2, 'one epoch line per epoch: only rank 0 speaks');
  assert.equal(lines.filter((l) => /Steps: \[\s*1\/\s*3\]/.test(l)).length, 2);
  assert.match(res.stderr, /launching 2 rank\(s\) on node 0 of 1 \(world size 2/);
  const last = path.join(dir, 'resnet18-last.safetensors');
  const { meta } = readCheckpoint(last);
  assert.deepEqual([meta.epoch, meta.step], [2, 6]);
  // one process continues the two ranks' run
  const resumed = spawnSync(process.execPath, [cli, 'train', '--epochs', '3', '--resume', last, ...common], { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(readCheckpoint(last).meta.epoch, 3);
  assert.ok(fs.existsSync(path.join(dir, 'resnet18-best.safetensors')));
  // a global batch that does not split evenly is refused, naming the numbers
  const uneven = spawnSync(process.execPath, [cli, 'train', '--nproc-per-node', '2', '--epochs', '1', ...common.slice(0, 2), '--batch-size', '15', ...common.slice(4), '--overwrite'], { encoding: 'utf8' });
  assert.notEqual(uneven.status, 0);
  assert.match(uneven.stderr, /batchSize 15 is the global batch and must split evenly over 2 ranks/);
});

test('a rank killed mid-epoch: the other stops with an error naming the dead rank, non-zero, and the last checkpoint stays readable', { skip: !available && 'built without gloo' }, async () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const dir = tempDir('rn-ddp-kill-');
  const port = await freePort();
  // as torchrun would start them: plain `train`, the group in the environment
  const args = [cli, 'train', '--arch', 'resnet18', '--batch-size', '8', '--epochs', '50', '--max-steps-per-epoch', '2', '--log-every', '1', '--device', 'cpu', '--threads', '1', '--checkpoint-dir', dir, '--overwrite'];
  const start = (rank: number) =>
    spawn(process.execPath, args, { env: { ...process.env, RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) } });
  const [r0, r1] = [start(0), start(1)];
  let out0 = '';
  let err0 = '';
  r0.stderr.on('data', (d) => (err0 += d));
  const exit0 = new Promise<number | null>((resolve) => r0.on('exit', resolve));
  await new Promise<void>((resolve) => r0.stdout.on('data', (d) => ((out0 += d), /Epoch: \[\s*2\/\s*50\], Steps: \[\s*1\//.test(out0) && resolve())));
  r1.kill('SIGKILL');
  const t0 = performance.now();
  const code = await exit0;
  const seconds = (performance.now() - t0) / 1000;
  assert.notEqual(code, 0);
  assert.ok(seconds < 30, `rank 0 took ${seconds.toFixed(1)} s to stop`);
  assert.match(err0, /failed on rank 0 of 2: rank 1 stopped answering \(no heartbeat for 1.5 s: the process died or is stopped\)/);
  assert.doesNotMatch(err0, /Exception raised from|frame #/, 'no C++ backtraces from c10d');
  assert.ok(readCheckpoint(path.join(dir, 'resnet18-last.safetensors')).meta.epoch >= 1);
});

// torch's own launcher, where a torch with torchrun is at hand (CI's CUDA-build venv has one).
const torchrun = [
  process.env.RESNET_NATIVE_TORCHRUN,
  path.join(process.env.RESNET_NATIVE_CACHE ?? path.join(os.homedir(), '.cache', 'resnet-native'), 'cuda-venv-2.14.1', 'bin', 'torchrun'),
  '/work/venv/bin/torchrun',
].find((p): p is string => p !== undefined && fs.existsSync(p));

test('started by torchrun --no-python: the ranks join through its agent store and train as one', { skip: (!available && 'built without gloo') || (!torchrun && 'no torchrun here (set RESNET_NATIVE_TORCHRUN)') }, async () => {
  const port = await freePort();
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const dir = tempDir('rn-torchrun-');
  const res = spawnSync(
    torchrun!,
    ['--no-python', '--nproc-per-node', '2', '--master-port', String(port), process.execPath, cli, 'train', '--arch', 'resnet18', '--epochs', '1', '--batch-size', '16', '--max-steps-per-epoch', '2', '--device', 'cpu', '--checkpoint-dir', dir],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(res.status, 0, res.stderr.slice(-2000));
  assert.match(res.stdout, /^Data-parallel: 2 ranks, each 8 images of every global batch of 16/m);
  assert.equal(res.stdout.split('\n').filter((l) => /Average Train Loss/.test(l)).length, 1);
  assert.equal(readCheckpoint(path.join(dir, 'resnet18-last.safetensors')).meta.step, 2);
});

test('Ctrl-C to the launcher stops every rank at a step boundary: exit 130, checkpoints whole', { skip: !available && 'built without gloo' }, async () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const dir = tempDir('rn-ddp-sigint-');
  const launcher = spawn(process.execPath, [cli, 'train', '--nproc-per-node', '2', '--arch', 'resnet18', '--batch-size', '8', '--epochs', '50', '--max-steps-per-epoch', '2', '--log-every', '1', '--device', 'cpu', '--checkpoint-dir', dir]);
  const exited = new Promise<number | null>((resolve) => launcher.on('exit', resolve));
  let out = '';
  let err = '';
  launcher.stderr.on('data', (d) => (err += d));
  await new Promise<void>((resolve) => launcher.stdout.on('data', (d) => ((out += d), /Average Train Loss/.test(out) && resolve())));
  launcher.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, err);
  assert.match(err, /training cancelled at epoch \d+, step \d+/);
  assert.ok(readCheckpoint(path.join(dir, 'resnet18-last.safetensors')).meta.epoch >= 1);
});

/** The processes whose parent is `pid` (from /proc: no pgrep needed). */
function childrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((e) => {
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(e)] : [];
    } catch {
      return []; // ended meanwhile
    }
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \S+ Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, 'x')); // a zombie has ended
  } catch {
    return false;
  }
};

test('kill -9 of the launcher ends its ranks (they watch a pipe from it) within seconds, no rank left training', { skip: !available && 'built without gloo' }, async (t) => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const dir = tempDir('rn-ddp-orphans-');
  const launcher = spawn(process.execPath, [cli, 'train', '--nproc-per-node', '2', '--arch', 'resnet18', '--batch-size', '8', '--epochs', '50', '--max-steps-per-epoch', '20', '--log-every', '1', '--device', 'cpu', '--checkpoint-dir', dir]);
  let out = '';
  launcher.stderr.on('data', (d) => (out += d));
  await new Promise<void>((resolve) => launcher.stdout.on('data', (d) => ((out += d), /Steps:/.test(out) && resolve())));
  const rankPids = childrenOf(launcher.pid!);
  assert.equal(rankPids.length, 2, `two ranks under the launcher: ${rankPids.join(', ')}`);
  launcher.kill('SIGKILL');
  const t0 = performance.now();
  while (rankPids.some(alive) && performance.now() - t0 < 45_000) await new Promise((r) => setTimeout(r, 100));
  const seconds = (performance.now() - t0) / 1000;
  assert.deepEqual(rankPids.filter(alive), [], `ranks still running ${seconds.toFixed(1)} s after the launcher was killed`);
  t.diagnostic(`ranks ended ${seconds.toFixed(1)} s after the launcher's kill -9`);
});

test('start-up faults end within --timeout with what happened: another WORLD_SIZE, a wrong MASTER_PORT, a rank that never joins or is stopped, a stop while waiting', { skip: !available && 'built without gloo' }, async () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const dir = tempDir('rn-ddp-join-');
  const rank = (env: Record<string, string>, timeout = 4) => {
    const child = spawn(process.execPath, [cli, 'train', '--arch', 'resnet18', '--batch-size', '12', '--epochs', '1', '--device', 'cpu', '--threads', '1', '--timeout', String(timeout), '--checkpoint-dir', path.join(dir, `${env.RANK}-${env.MASTER_PORT}`)], {
      env: { ...process.env, MASTER_ADDR: '127.0.0.1', ...env },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const start = performance.now();
    const done = new Promise<{ code: number | null; out: string; seconds: number }>((resolve) => child.on('exit', (code) => resolve({ code, out, seconds: (performance.now() - start) / 1000 })));
    return { child, done };
  };
  const [p1, p2, p3, p4, wrong] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  // rank 1 believes in a world of 3: both are refused at once, naming both sizes
  const mismatch = [rank({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: String(p1) }, 60), rank({ RANK: '1', WORLD_SIZE: '3', MASTER_PORT: String(p1) }, 60)];
  // rank 1 was given another port: it cannot reach the store, rank 0 names it as missing
  const ports = [rank({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: String(p2) }), rank({ RANK: '1', WORLD_SIZE: '2', MASTER_PORT: String(wrong) })];
  // rank 1 never comes; then one that is stopped (SIGSTOP) before it can join
  const alone = rank({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: String(p3) });
  const stopped = [rank({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: String(p4) }), rank({ RANK: '1', WORLD_SIZE: '2', MASTER_PORT: String(p4) })];
  stopped[1].child.kill('SIGSTOP');
  const results = await Promise.all([...mismatch, ...ports, alone, stopped[0]].map((r) => r.done));
  stopped[1].child.kill('SIGKILL');
  const [m0, m1, w0, w1, a0, s0] = results;
  for (const r of results) assert.equal(r.code, 1, r.out);
  for (const r of [m0, m1]) {
    assert.match(r.out, /was started with WORLD_SIZE [23], and rank [01] \(this one\) with [23]: every rank must be given the same world size/);
    assert.ok(r.seconds < 30, `a world-size mismatch took ${r.seconds} s to be refused (the deadline was 60 s)`);
  }
  assert.match(w1.out, new RegExp(`rank 1 of 2 could not reach the rendezvous store \\(served by rank 0\\) at 127\\.0\\.0\\.1:${wrong} within 4 s`));
  for (const r of [w0, a0, s0]) assert.match(r.out, /rank 1 of 2 did not join the group at 127\.0\.0\.1:\d+ within 4 s \(joined: 0\)/);
  for (const r of [w0, w1, a0, s0]) assert.ok(r.seconds < 4 + 20, `ended ${r.seconds.toFixed(1)} s after start with a 4 s deadline`);
  for (const r of results) assert.doesNotMatch(r.out, /Exception raised from|frame #/, 'no C++ backtraces');
  // SIGTERM while waiting ends it at once, saying so (not "could not join within 300 s")
  const waitPort = await freePort();
  const waiting = rank({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: String(waitPort) }, 300);
  // once its store answers, it is waiting (and its signal handlers were set before it started)
  for (let connected = false; !connected; ) {
    connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(waitPort, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => setTimeout(() => resolve(false), 100));
    });
  }
  const signalled = performance.now();
  waiting.child.kill('SIGTERM');
  const w = await waiting.done;
  assert.equal(w.code, 143, w.out);
  assert.match(w.out, /rank 0 was stopped while waiting [\d.]+ s of 300 s for rank 1 to join/);
  assert.ok(performance.now() - signalled < 5000, `took ${performance.now() - signalled} ms to stop`);
});

test('2 ranks learn like one process with the same global batch (synthetic set): the loss falls for both, ranks agree on the results', { skip: !available && 'built without gloo' }, async () => {
  // Two epochs of 25 steps. Which accuracy 50 steps reach depends on the seed and on the CPU's
  // kernels (one process, seeds 0-5 on one machine: 0.30-0.74 after epoch 2; 0.17-0.56 for one
  // epoch of 50 steps, and a Xeon gave 0.25 where another machine gave 0.48), so no accuracy is
  // asserted. What held for every seed: epoch 2's average loss is below epoch 1's (0.59-0.73 of
  // it; lr 0.05 first overshoots to ~5, then settles). That the ranks compute what one process does is the
  // gradient and PyTorch DDP trajectory tests' job.
  const options = { arch: 'resnet18', batchSize: 16, lr: 0.05, minLr: 0.001, epochs: 2, device: 'cpu', syntheticSize: { train: 400, test: 160 }, overwrite: true, curves: false } as const;
  const dir = tempDir('rn-ddp-accuracy-');
  const results = await ranks(
    2,
    `
    rn.runTraining({ ...${JSON.stringify(options)}, distributed: { timeoutMs: 60000 }, checkpointDir: ${JSON.stringify(path.join(dir, 'ddp'))} }, { onLine: () => {} })
      .then((r) => out({ accuracies: r.accuracies, losses: r.losses, steps: r.steps }));
  `,
    { join: false },
  );
  const ddp = results.map((r) => {
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out.trim().split('\n').pop()!) as { accuracies: number[]; losses: number[]; steps: number };
  });
  assert.deepEqual(ddp[0].accuracies, ddp[1].accuracies, 'every rank evaluates the whole test set together');
  assert.deepEqual(ddp[0].losses, ddp[1].losses, 'the reported loss is reduced over the ranks');
  assert.equal(ddp[0].steps, 50, '2 epochs of 400 images / global batch 16');
  const single = await runTraining({ ...options, checkpointDir: path.join(dir, 'single') }, { onLine: () => {} });
  assert.equal(single.steps, 50);
  for (const [who, losses] of [['one process', single.losses], ['two ranks', ddp[0].losses]] as const) {
    assert.ok(losses.every(Number.isFinite) && losses[1] < losses[0], `${who}: epoch losses ${losses.join(', ')} (epoch 2 should be lower)`);
  }
});

test('2 ranks train on a folder of images: each streams its own shard, both report the same shared evaluation and step count', { skip: !available && 'built without gloo' }, async () => {
  const dir = tempDir('rn-ddp-folder-');
  const data = path.join(dir, 'images');
  // 2 classes of 12 PNGs each, told apart by colour
  const sharp = (await import('sharp')).default;
  for (const [cls, rgb] of [['dark', 30], ['light', 220]] as const) {
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const px = Buffer.alloc(24 * 20 * 3, rgb + (i % 5));
      fs.writeFileSync(path.join(data, cls, `${i}.png`), await sharp(px, { raw: { width: 24, height: 20, channels: 3 } }).png().toBuffer());
    }
  }
  const options = { arch: 'resnet18', imageSize: 16, batchSize: 8, epochs: 2, device: 'cpu', data, curves: false, workers: 1, overwrite: true } as const;
  const results = await ranks(
    2,
    `
    rn.runTraining({ ...${JSON.stringify(options)}, distributed: { timeoutMs: 60000 }, checkpointDir: ${JSON.stringify(path.join(dir, 'ddp'))} }, { onLine: () => {} })
      .then((r) => out({ accuracies: r.accuracies, losses: r.losses, steps: r.steps }));
  `,
    { join: false },
  );
  const [r0, r1] = results.map((r) => {
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out.trim().split('\n').pop()!) as { accuracies: number[]; losses: number[]; steps: number };
  });
  // 24 images, 0.2 of each class held out: 20 train, split 10 + 10 over the ranks, global batch 8
  // (4 a rank): 3 steps an epoch
  assert.equal(r0.steps, 6);
  assert.deepEqual(r0.accuracies, r1.accuracies, 'the evaluation of the validation split is shared');
  assert.deepEqual(r0.losses, r1.losses, 'the reported loss is reduced over the ranks');
  const { meta } = readCheckpoint(path.join(dir, 'ddp', 'resnet18-last.safetensors'));
  assert.deepEqual(meta.classNames, ['dark', 'light']);
});

test('the native process group, reducer and collectives refuse bad input with TypeErrors and RangeErrors, never a crash', { skip: !available && 'built without gloo' }, async () => {
  const storeOptions = { host: '127.0.0.1', port: await freePort(), isServer: true, worldSize: 1, timeoutMs: 5000, prefix: 'p/' };
  assert.throws(() => new native.Store(5 as never), /Expected an options object for 'options' but received 5 of type number/);
  assert.throws(() => new native.Store({ ...storeOptions, host: undefined } as never), /Missing option 'host'/);
  assert.throws(() => new native.Store({ ...storeOptions, isServer: 1 } as never), /Expected a boolean for 'option isServer'/);
  assert.throws(() => new native.Store({ ...storeOptions, port: 70000 }), /port must be between 1 and 65535/);
  assert.throws(() => new native.Store({ ...storeOptions, timeoutMs: 0 }), /timeoutMs must be positive/);
  assert.throws(() => new native.Store({ ...storeOptions, worldSize: 0 }), /worldSize must be positive/);
  const store = new native.Store(storeOptions);
  assert.equal(store.tryGet('k'), null);
  store.set('k', 'v');
  assert.equal(store.tryGet('k'), 'v');
  assert.throws(() => store.set('k', 5 as never), /Expected a string for 'value'/);
  const base = { backend: 'gloo' as const, rank: 0, worldSize: 1, timeoutMs: 5000, interface: '', hostname: '127.0.0.1' };
  assert.throws(() => new native.ProcessGroup({} as never, base), /Expected a Store for 'store' but received an object of type Object/);
  assert.throws(() => new native.ProcessGroup(store, { ...base, backend: 'mpi' as never }), /backend must be 'gloo' or 'nccl', got 'mpi'/);
  if (native.ncclUnavailableReason() !== null) assert.throws(() => new native.ProcessGroup(store, { ...base, backend: 'nccl' }), /the NCCL backend is not in this build: it needs the CUDA build of libtorch/);
  assert.throws(() => new native.ProcessGroup(store, 5 as never), /Expected an options object for 'options' but received 5 of type number/);
  assert.throws(() => new native.ProcessGroup(store, { ...base, rank: 'x' } as never), /Expected an integer for 'option rank' but received 'x' of type string/);
  assert.throws(() => new native.ProcessGroup(store, { ...base, hostname: undefined } as never), /Missing option 'hostname'/);
  assert.throws(() => new native.ProcessGroup(store, { ...base, rank: 1 }), /rank must be in \[0, worldSize\)/);
  assert.throws(() => new native.ProcessGroup(store, { ...base, timeoutMs: 0 }), /timeoutMs must be positive/);
  assert.throws(() => new native.Reducer({} as never, [], [], 1, 1), /Expected a ProcessGroup for 'group' but received an object of type Object/);
  // a group of one rank, in this process
  const group = new native.ProcessGroup(store, base);
  store.close();
  assert.throws(() => store.tryGet('k'), /this store has been closed/);
  const t = ones([3], { device: 'cpu' });
  assert.throws(() => group.allreduce([t.handle], 'avg' as never), /reduce op must be 'sum', 'max', 'min' or 'product', got 'avg'/);
  assert.throws(() => group.allreduce(['x'] as never, 'sum'), /Expected a Tensor for 'tensors\[0\]' but received 'x' of type string/);
  assert.throws(() => group.broadcast([t.handle], 'root' as never), /Expected an integer for 'root'/);
  assert.throws(() => group.broadcastCoalesced([t.handle], 0, 0), /bufferBytes must be positive/);
  assert.throws(() => group.allgather(3 as never), /Expected a Tensor for 'tensor' but received 3 of type number/);
  const frozen = ones([2], { device: 'cpu' });
  assert.throws(() => new native.Reducer(group, [frozen.handle], ['w'], 1024, 1024), /every parameter given to the reducer must require grad/);
  assert.throws(() => new native.Reducer(group, [t.handle], [], 1024, 1024), /one name per parameter/);
  assert.throws(() => new native.Reducer(group, [t.handle], ['w'], 0, 1024), /bucket sizes must be positive/);
  group.allreduce([t.handle], 'sum'); // one rank: the sum is itself
  assert.deepEqual(t.toList(), [1, 1, 1]);
  assert.throws(() => group.peerStates(0), /timeoutMs must be positive/);
  assert.throws(() => group.peerStates('1' as never), /Expected an integer for 'timeoutMs'/);
  const states = group.peerStates(1000); // this rank's heartbeat: published at once, then every 500 ms
  assert.ok(states.entered >= 1, `collectives entered: ${states.entered}`);
  assert.match(String(states.peers[0]), /^\d+ \d+$/);
  assert.throws(() => native.setCppLogLevel(4), /level must be 0 \(info\) to 3 \(fatal\), got 4/);
  // evaluate with a group needs the loader over this rank's shard
  const pg = new ProcessGroup(group);
  const loader = new DataLoader(syntheticDataset('test', { size: 8 }), { batchSize: 4, transform: testTransforms() });
  await assert.rejects(evaluate(new nn.Linear({ inFeatures: 2, outFeatures: 2, device: 'cpu' }), loader, { group: pg }), /evaluate with a group needs a loader over rank 0's shard/);
  group.destroy();
  assert.throws(() => group.allreduce([t.handle], 'sum'), /this process group has been destroyed/);
  assert.throws(() => group.peerStates(1000), /this process group has been destroyed/);
  assert.deepEqual(pg.diagnose(), { failedRanks: [], explanation: 'this group was destroyed' });
  assert.throws(() => new native.Reducer(group, [t.handle], ['w'], 1024, 1024), /this process group has been destroyed/);
});

test('NCCL: a CPU build says why it has none; the backends check their tensors', { skip: !available && 'built without gloo' }, async () => {
  const port = await freePort();
  assert.equal(resolveProcessGroupOptions({ rank: 0, worldSize: 1, backend: 'nccl' }, {}).backend, 'nccl');
  const reason = distributedUnavailableReason('nccl');
  if (reason !== null) {
    assert.match(reason, /the NCCL backend is not in this build: it needs the CUDA build of libtorch and NCCL's header/);
    assert.throws(
      () => initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, masterPort: port }),
      (e: unknown) => e instanceof DistributedError && /NCCL backend is not in this build/.test((e as Error).message),
    );
  }
  const gloo = initProcessGroup({ rank: 0, worldSize: 1, masterPort: await freePort() });
  try {
    assert.equal(gloo.backend, 'gloo');
    if (cuda.isAvailable()) assert.throws(() => gloo.allReduce(ones([2], { device: 'cuda' })), /the Gloo backend reduces CPU tensors; got one on cuda/);
  } finally {
    gloo.destroy();
  }
});

// GPU machines only (bench/gpu.sh runs the test suite there): a group of one rank on NCCL.
test('NCCL on a GPU: allReduce, broadcast and a DistributedDataParallel step on CUDA, equal to the plain step', { skip: (!cuda.isAvailable() || distributedUnavailableReason('nccl') !== null) && 'no CUDA device, or no NCCL in this build' }, async () => {
  const pg = initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, masterPort: await freePort(), timeoutMs: 60_000 });
  try {
    assert.equal(pg.backend, 'nccl');
    const t = ones([4], { device: 'cuda' }).mul(3);
    pg.allReduce(t, 'sum');
    assert.deepEqual(t.toList(), [3, 3, 3, 3]);
    pg.broadcast(t, 0);
    assert.deepEqual(pg.allGather(t).map((g) => g.toList()), [[3, 3, 3, 3]]);
    assert.throws(() => pg.allReduce(ones([2], { device: 'cpu' })), /the NCCL backend reduces CUDA tensors; got one on cpu/);
    manualSeed(3);
    const make = () => new nn.Sequential(new nn.Linear({ inFeatures: 8, outFeatures: 16, device: 'cuda' }), new nn.ReLU(), new nn.Linear({ inFeatures: 16, outFeatures: 4, device: 'cuda' }));
    const model = make();
    const reference = make();
    reference.loadStateDict(model.stateDict());
    const ddp = new DistributedDataParallel(model, pg);
    const x = randn([8, 8], { device: 'cuda' });
    const y = randint(0, 4, [8], { device: 'cuda' });
    nn.functional.crossEntropy(ddp.forward(x), y).backward();
    nn.functional.crossEntropy(reference.forward(x), y).backward();
    const mine = Object.fromEntries(model.namedParameters());
    for (const [name, p] of reference.namedParameters()) assertClose(Array.from(mine[name].grad!.toArray() as Float32Array), Array.from(p.grad!.toArray() as Float32Array), { rtol: 1e-5, atol: 1e-6, what: name });
    new SGD(model.namedParameters(), { lr: 0.1 }).step();
    ddp.dispose?.();
  } finally {
    pg.destroy();
  }
});

// GPU machines only: train() as one NCCL rank on the GPU (group tensors, the loss, the agreed
// stop and the evaluation totals on cuda:0), and, where a machine has 2 GPUs, the launcher's
// 2 ranks on cuda:0 and cuda:1.
const ncclSkip = (!cuda.isAvailable() || distributedUnavailableReason('nccl') !== null) && 'no CUDA device, or no NCCL in this build';
test('NCCL on a GPU: train as a one-rank data-parallel job on cuda:0, checkpoint a single process reads', { skip: ncclSkip }, async () => {
  const dir = tempDir('rn-nccl-train-');
  const lines: string[] = [];
  const events: { type: string; config?: { device?: string } }[] = [];
  const result = await runTraining(
    {
      arch: 'resnet18',
      batchSize: 16,
      epochs: 2,
      device: 'cuda',
      syntheticSize: { train: 64, test: 40 },
      checkpointDir: dir,
      curves: false,
      distributed: { rank: 0, worldSize: 1, masterPort: await freePort(), timeoutMs: 60_000 },
    },
    { onLine: (l) => lines.push(l), onEvent: (e) => events.push(e as never) },
  );
  assert.equal(result.steps, 8);
  assert.ok(result.losses.every(Number.isFinite), `losses ${result.losses}`);
  assert.ok(result.accuracies.every((a) => a >= 0 && a <= 1));
  assert.match(lines[0], /^Data-parallel: 1 ranks, each 16 images of every global batch of 16/);
  assert.equal(events.find((e) => e.type === 'start')?.config?.device, 'cuda:0', 'the rank trained on its own GPU');
  const { meta } = readCheckpoint(result.lastCheckpoint);
  assert.deepEqual([meta.epoch, meta.step], [2, 8]);
});

test('NCCL on 2 GPUs: train --nproc-per-node 2 --device cuda, one rank per GPU', { skip: ncclSkip || (cuda.deviceCount() < 2 && 'fewer than 2 GPUs here') }, () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'index.js');
  const dir = tempDir('rn-nccl-cli-');
  const res = spawnSync(process.execPath, [cli, 'train', '--nproc-per-node', '2', '--device', 'cuda', '--arch', 'resnet18', '--batch-size', '32', '--epochs', '2', '--max-steps-per-epoch', '3', '--log-every', '1', '--checkpoint-dir', dir], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /^Data-parallel: 2 ranks, each 16 images of every global batch of 32/);
  assert.equal(readCheckpoint(path.join(dir, 'resnet18-last.safetensors')).meta.epoch, 2);
});
