// Download progress: a bar (cli-progress) on a terminal, a line every 10% otherwise.
import { SingleBar, Presets } from 'cli-progress';
import type { TrainEvent } from '../train/events';
import { eventJson } from '../train/event-json';

export interface ProgressReporter {
  update(received: number, total: number | null): void;
  log(message: string): void;
  stop(): void;
}

export function progressReporter(label: string): ProgressReporter {
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {percentage}% | {received}/{size} MB | {speed} MB/s | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
      Presets.shades_classic,
    );
    let started = false;
    const t0 = Date.now();
    return {
      update(received, total) {
        if (!started) bar.start(total ?? received, 0, { received: '0', size: '?', speed: '0' });
        started = true;
        if (total) bar.setTotal(total);
        const speed = received / 2 ** 20 / Math.max((Date.now() - t0) / 1000, 1e-3);
        bar.update(received, { received: mb(received), size: total ? mb(total) : '?', speed: speed.toFixed(1) });
      },
      log: (message) => process.stderr.write(`${message}\n`),
      stop: () => started && bar.stop(),
    };
  }
  let lastDecile = -1;
  return {
    update(received, total) {
      if (!total) return;
      const decile = Math.floor((10 * received) / total);
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${label}: ${decile * 10}% (${mb(received)} of ${mb(total)} MB)\n`);
      }
    },
    log: (message) => process.stderr.write(`${message}\n`),
    stop: () => {},
  };
}

export interface TrainReporter {
  line(line: string): void;
  event(event: TrainEvent): void;
  stop(): void;
}

/**
 * Training output: the tutorial's lines on stdout (with a progress bar showing images/s and ETA on
 * a terminal), or with --json one JSON object a line and nothing else.
 */
export function trainReporter(json: boolean): TrainReporter {
  if (json) {
    return {
      line: () => {},
      event(e) {
        const out = eventJson(e);
        process.stdout.write(`${JSON.stringify(out)}\n`);
      },
      stop: () => {},
    };
  }
  const tty = Boolean(process.stdout.isTTY);
  const bar = tty
    ? new SingleBar({ format: 'epoch {epoch} [{bar}] {value}/{total} | {ips} images/s | ETA {eta_formatted}', stream: process.stderr, clearOnComplete: true, hideCursor: true }, Presets.shades_classic)
    : null;
  let active = false;
  return {
    line(text) {
      if (active) {
        bar!.stop();
        active = false;
      }
      process.stdout.write(`${text}\n`);
    },
    event(e) {
      if (!bar || e.type !== 'step') return;
      if (!active) {
        bar.start(e.stepsPerEpoch, e.step, { epoch: e.epoch, ips: Math.round(e.imagesPerSecond) });
        active = true;
      }
      bar.update(e.step, { epoch: e.epoch, ips: Math.round(e.imagesPerSecond) });
    },
    stop() {
      if (active) bar!.stop();
      active = false;
    },
  };
}
