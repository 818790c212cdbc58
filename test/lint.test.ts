// The architecture's lint rules catch what they are for (npm run lint applies them to the tree).
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: path.resolve(__dirname, '..') });

async function messages(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.resolve(__dirname, '..', file) });
  return result.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

test('only the binding layer may load the addon or reach into a native handle', async () => {
  const reaching = "import { native } from '../native';\nimport { ones } from '../tensor';\nexport const n = native.liveTensors() + Number(ones([1]).handle);\n";
  for (const file of ['src/data/new-source.ts', 'src/optim/adamw.ts', 'src/train/setup.ts']) {
    const found = await messages(file, reaching);
    assert.ok(found.some((m) => m.startsWith('no-restricted-imports: ') && m.includes('Only the binding layer')), `${file}: ${found.join('; ')}`);
    assert.ok(found.some((m) => m.startsWith('no-restricted-syntax: ') && m.includes('native handle')), `${file}: ${found.join('; ')}`);
  }
  // the layer itself may
  const inLayer = await messages('src/nn/functional.ts', reaching);
  assert.deepEqual(inLayer.filter((m) => m.startsWith('no-restricted')), []);
});
