'use strict';
// Prints bench/gpu.sh's table: for each configuration (a `bench --json` result in DIR/NAME.json)
// and case, ours and PyTorch's images/s with the same options, their ratio, and ours against
// PyTorch eager fp32 (the first configuration), and ours / PyTorch peak GPU memory (allocated by
// tensors) where both report it.
// node scripts/gpu-table.js DIR NAME...

const fs = require('node:fs');
const path = require('node:path');

function table(dir, names) {
  const results = names.map((name) => ({ name, result: JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8')) }));
  const baseline = new Map(results[0].result.rows.map((r) => [`${r.mode} ${r.batch}`, r.pytorch?.imagesPerSecond ?? null]));
  const lines = [
    results[0].result.machine,
    `${'configuration'.padEnd(32)}${'case'.padEnd(11)}${'ours img/s'.padStart(11)}${'PyTorch'.padStart(10)}${'ratio'.padStart(8)}${'vs PyTorch eager fp32'.padStart(23)}${'GPU memory ratio'.padStart(18)}`,
  ];
  for (const { name, result } of results) {
    for (const r of result.rows) {
      const key = `${r.mode} ${r.batch}`;
      const base = baseline.get(key);
      lines.push(
        name.padEnd(32) +
          key.padEnd(11) +
          r.ours.imagesPerSecond.toFixed(0).padStart(11) +
          (r.pytorch ? r.pytorch.imagesPerSecond.toFixed(0) : '-').padStart(10) +
          (r.speedRatio ? r.speedRatio.toFixed(3) : '-').padStart(8) +
          (base ? (r.ours.imagesPerSecond / base).toFixed(3) : '-').padStart(23) +
          (r.ours.peakCudaBytes && r.pytorch?.peakCudaBytes ? (r.ours.peakCudaBytes / r.pytorch.peakCudaBytes).toFixed(2) : '-').padStart(18),
      );
    }
  }
  return lines.join('\n');
}

module.exports = { table };

if (require.main === module) {
  const [dir, ...names] = process.argv.slice(2);
  if (!dir || names.length === 0) {
    process.stderr.write('usage: node scripts/gpu-table.js DIR NAME...\n');
    process.exit(2);
  }
  process.stdout.write(`${table(dir, names)}\n`);
}
