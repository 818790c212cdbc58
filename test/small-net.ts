// The small conv -> batchnorm -> relu -> max-pool -> linear network of scripts/gen_fixtures.py
// (SmallNet), loaded with the weights of test/fixtures/small_net.json.
import * as assert from 'node:assert/strict';
import { nn, noGrad, tensor, type Device, type Tensor } from '../src/index';
import { fromFixture, loadFixture, type FixtureTensor } from './helpers';
import { syntheticValue } from './synthetic-weights';

export class SmallNet extends nn.Module {
  conv = this.registerModule('conv', new nn.Conv2d({ inChannels: 3, outChannels: 6, kernelSize: 3, padding: 1, device: 'cpu' }));
  bn = this.registerModule('bn', new nn.BatchNorm2d({ numFeatures: 6, device: 'cpu' }));
  fc = this.registerModule('fc', new nn.Linear({ inFeatures: 96, outFeatures: 5, device: 'cpu' }));

  forward(x: Tensor): Tensor {
    const h = nn.functional.maxPool2d(this.bn.forward(this.conv.forward(x)).relu(), 2);
    return this.fc.forward(h.flatten(1));
  }
}

/** SmallNet with PyTorch's initial weights from small_net.json. */
export function loadedSmallNet(): SmallNet {
  const { state } = loadFixture<{ state: Record<string, FixtureTensor> }>('small_net.json');
  const net = new SmallNet();
  const own = net.stateDict();
  assert.deepEqual(Object.keys(own).sort(), Object.keys(state).sort(), 'state-dict keys match PyTorch');
  noGrad(() => {
    for (const [key, value] of Object.entries(state)) {
      const src = fromFixture(value);
      own[key].copy_(src);
      src.dispose();
    }
  });
  return net;
}

/** The i-th batch of the trajectory fixtures (scripts/gen_fixtures.py small_net_batch):
 * syntheticValue('batch<i>') * 2 and targets (i + k) % 5. */
export function smallNetBatch(i: number, device: Device = 'cpu'): [Tensor, Tensor] {
  return [
    syntheticValue(`batch${i}`, [4, 3, 8, 8]).mul(2).to(device),
    tensor(BigInt64Array.from({ length: 4 }, (_, k) => BigInt((i + k) % 5)), [4], { device: 'cpu' }).to(device),
  ];
}
