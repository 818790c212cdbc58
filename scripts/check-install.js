'use strict';
// What `npm install resnet-native` leaves in a user's project: packs this checkout (npm pack),
// installs the tarball into an empty project (the addon is built there, against the libtorch
// that RESNET_NATIVE_CACHE / LIBTORCH provide), loads it, and checks what stays on disk against
// a bound; then `npm rebuild` from what was kept must build and load again. Prints the figures
// the README gives. Takes two full native builds (about 2 minutes each on 2 cores).
// Usage: node scripts/check-install.js [--max-mb N]   (default 10)

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const maxMbArg = process.argv.indexOf('--max-mb');
const maxMb = maxMbArg === -1 ? 10 : Number(process.argv[maxMbArg + 1]);
if (!(maxMb > 0)) {
  process.stderr.write(`check:install: --max-mb takes a number of MB above 0, got '${process.argv[maxMbArg + 1]}'\n`);
  process.exit(2);
}

function fail(message) {
  process.stderr.write(`check:install: ${message}\n`);
  process.exit(1);
}

function run(cmd, args, cwd, env = {}) {
  const res = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, ...env } });
  if (res.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${res.status})`);
  return res.stdout;
}

function sizeOf(p) {
  const st = fs.lstatSync(p);
  return st.isDirectory() ? fs.readdirSync(p).reduce((n, e) => n + sizeOf(path.join(p, e)), 0) : st.size;
}

function files(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? files(full, base) : [path.relative(base, full)];
  });
}

const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rn-install-'));
try {
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], root))[0];
  const tarball = path.join(work, packed.filename);
  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const start = Date.now();
  run('npm', ['install', '--no-audit', '--no-fund', tarball], app);
  const seconds = (Date.now() - start) / 1000;
  const pkg = path.join(app, 'node_modules', 'resnet-native');
  const build = path.join(pkg, 'build');
  const built = files(build);
  // loads, and computes
  const probe = "const rn = require('resnet-native'); const t = rn.ones([2, 2]); console.log(JSON.stringify({ sum: t.sum().item(), libtorch: rn.doctorReport().libtorchVersion }));";
  const loaded = JSON.parse(run(process.execPath, ['-e', probe], app).trim().split('\n').pop());
  const report = {
    tarball: mb(fs.statSync(tarball).size),
    installSeconds: Math.round(seconds),
    package: mb(sizeOf(pkg)),
    build: mb(sizeOf(build)),
    buildFiles: built,
    nodeModules: mb(sizeOf(path.join(app, 'node_modules'))),
    loaded,
  };
  console.log(JSON.stringify(report, null, 2));
  if (built.length !== 1 || built[0] !== path.join('Release', 'resnet_native.node')) fail(`build/ holds more than the addon: ${built.join(', ')}`);
  if (sizeOf(pkg) > maxMb * 2 ** 20) fail(`node_modules/resnet-native is ${mb(sizeOf(pkg))}, over the bound of ${maxMb} MB`);
  if (loaded.sum !== 4) fail(`the installed addon computed ${loaded.sum} for ones([2, 2]).sum()`);
  // what was kept is enough for `npm rebuild` (it configures and builds afresh)
  const rebuildStart = Date.now();
  run('npm', ['rebuild', 'resnet-native'], app);
  const again = JSON.parse(run(process.execPath, ['-e', probe], app).trim().split('\n').pop());
  if (again.sum !== 4) fail(`after npm rebuild the addon computed ${again.sum}`);
  if (files(build).length !== 1) fail(`npm rebuild left more than the addon in build/: ${files(build).join(', ')}`);
  console.log(`check:install: ok (node_modules/resnet-native ${report.package}, of which build/ ${report.build}; bound ${maxMb} MB; npm rebuild ${Math.round((Date.now() - rebuildStart) / 1000)} s)`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
