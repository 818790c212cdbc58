// npm run soak -- --minutes N [--dir DIR]: the soak run (src/bench/soak.ts) for as long as asked,
// a line per round and a summary; exits 1 if live tensors or active resources grew.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { formatSoakSample, runSoak } from '../src/bench/soak';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, rounds: { type: 'string' }, dir: { type: 'string' } } });
const minutes = Number(values.minutes);
const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
if (!(minutes > 0) || (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0))) {
  console.error('usage: npm run soak -- [--minutes N] [--rounds N] [--dir DIR]  (minutes > 0, rounds a positive integer)');
  process.exit(2);
}
const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rn-soak-'));
console.log(`soak: ${rounds ?? 'as many'} rounds within ${minutes} min, checkpoints in ${dir}`);
runSoak({ dir, minutes, rounds, onRound: (s) => console.log(formatSoakSample(s)) }).then((summary) => {
  const rss = summary.samples.map((s) => s.rssMiB);
  console.log(
    `summary: ${summary.samples.length} rounds; RSS ${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MiB, ` +
      `growth after round 2 ${summary.rssGrowthMiB.toFixed(1)} MiB; live tensors ${summary.tensorGrowth >= 0 ? '+' : ''}${summary.tensorGrowth}; ` +
      `active resources ${summary.resourceGrowth >= 0 ? '+' : ''}${summary.resourceGrowth}; ` +
      `worst loop delay ${Math.max(...summary.samples.map((s) => s.loopDelayMaxMs)).toFixed(1)} ms`,
  );
  if (summary.tensorGrowth > 0 || summary.resourceGrowth > 0) process.exit(1);
});
