// A tiny CNN trains from TypeScript with a hand-written momentum-SGD loop on a small synthetic
// task (which quadrant of the image is bright) and its loss falls.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { keep, manualSeed, nn, noGrad, randint, randn, tensor, tidy, zeros, type Tensor } from '../src/index';

const cpu = { device: 'cpu' } as const;
const F = nn.functional;

/** Images [n,1,8,8] of noise with the quadrant given by the label (0-3) brightened. */
function quadrantBatch(n: number): { x: Tensor; y: Tensor } {
  return tidy(() => {
    const y = randint(0, 4, [n], cpu);
    const labels = Array.from(y.toArray() as BigInt64Array, Number);
    const mask = new Float32Array(n * 64);
    labels.forEach((label, i) => {
      const r0 = label < 2 ? 0 : 4;
      const c0 = label % 2 === 0 ? 0 : 4;
      for (let r = r0; r < r0 + 4; r++) for (let c = c0; c < c0 + 4; c++) mask[i * 64 + r * 8 + c] = 1.5;
    });
    const x = randn([n, 1, 8, 8], cpu).add(tensor(mask, [n, 1, 8, 8], cpu));
    return { x, y };
  });
}

test('a tiny CNN learns a synthetic task with hand-written momentum SGD', () => {
  manualSeed(0);
  const net = new nn.Sequential(
    new nn.Conv2d({ inChannels: 1, outChannels: 8, kernelSize: 3, padding: 1, ...cpu }),
    new nn.BatchNorm2d({ numFeatures: 8, ...cpu }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear({ inFeatures: 8 * 4 * 4, outFeatures: 4, ...cpu }),
  );
  const params = net.parameters();
  const velocity = params.map((p) => keep(zeros(p.shape, cpu)));
  const lr = 0.05;
  const momentum = 0.9;
  const losses: number[] = [];
  for (let step = 0; step < 80; step++) {
    const { x, y } = quadrantBatch(32);
    losses.push(
      tidy(() => {
        const loss = F.crossEntropy(net.forward(x), y);
        loss.backward();
        noGrad(() => {
          params.forEach((p, i) => {
            velocity[i].mul_(momentum).add_(p.grad!); // v = m*v + g
            p.add_(velocity[i], -lr); // p -= lr*v
          });
        });
        net.zeroGrad();
        return loss.item();
      }),
    );
    x.dispose();
    y.dispose();
  }
  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(first > 1.0, `initial loss ${first} is near ln(4)`);
  assert.ok(last < 0.3 * first, `loss fell from ${first.toFixed(3)} to ${last.toFixed(3)}`);
  // held-out accuracy in eval mode
  net.eval();
  const { x, y } = quadrantBatch(256);
  const accuracy = noGrad(() => net.forward(x).argmax(1).eq(y).to('float32').mean().item());
  assert.ok(accuracy > 0.9, `held-out accuracy ${accuracy}`);
});
