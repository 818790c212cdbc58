// Process groups on libtorch's c10d (TCPStore + Gloo), two ranks on loopback in two processes:
// the collectives' results, options from a launcher's environment, and errors that name the rank.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { DistributedError, distributedUnavailableReason, doctorReport, initProcessGroup, resolveProcessGroupOptions } from '../src/index';

const dist = path.resolve(__dirname, '..', 'dist', 'index.js');
const available = distributedUnavailableReason() === null;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** Runs `body` (JavaScript, with `pg` joined from the environment) as `worldSize` ranks. */
async function ranks(worldSize: number, body: string, extraEnv: (rank: number) => NodeJS.ProcessEnv = () => ({})): Promise<{ code: number | null; out: string; err: string }[]> {
  const port = await freePort();
  const script = `
    const rn = require(${JSON.stringify(dist)});
    const pg = rn.initProcessGroup({ timeoutMs: 20000 });
    const out = (v) => console.log(JSON.stringify(v));
    ${body}
  `;
  return Promise.all(
    Array.from({ length: worldSize }, (_, rank) => {
      const child = spawn(process.execPath, ['-e', script], {
        env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), ...extraEnv(rank) },
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
  assert.throws(() => resolveProcessGroupOptions({ rank: 0, worldSize: 2, backend: 'nccl' as never }, {}), /backend/);
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

test('a rank that dies makes the other fail with a DistributedError naming itself, not hang', { skip: !available && 'built without gloo' }, async () => {
  const t0 = performance.now();
  const results = await ranks(
    2,
    `
    if (pg.rank === 1) process.exit(3);
    try {
      for (let i = 0; i < 50; i++) { pg.allReduce(rn.ones([1000]), 'sum'); }
      out({ survived: true });
    } catch (e) {
      out({ name: e.name, message: e.message, rank: e.rank });
    }
  `,
  );
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(results[1].code, 3);
  const r0 = JSON.parse(results[0].out.trim());
  assert.equal(r0.name, 'DistributedError');
  assert.equal(r0.rank, 0);
  assert.match(r0.message, /^allReduce\(sum\) failed on rank 0 of 2: /);
  assert.ok(seconds < 20, `took ${seconds.toFixed(1)} s`);
});

test('joining refuses a lone rank after the timeout, naming where it waited', { skip: !available && 'built without gloo' }, async () => {
  const port = await freePort();
  assert.throws(
    () => initProcessGroup({ rank: 1, worldSize: 2, masterPort: port, timeoutMs: 1500 }),
    (e: unknown) => e instanceof DistributedError && /rank 1 of 2 could not join the group at 127\.0\.0\.1:\d+ within 1500 ms/.test((e as Error).message),
  );
});
