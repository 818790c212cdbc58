// Training curves as a picture, without TensorBoard: per-step loss (raw, and smoothed as
// TensorBoard smooths it), per-epoch accuracy and the learning rate, side by side, drawn as SVG
// and rendered to PNG by sharp (librsvg). The layout is exported so tests can find where a data
// point lands.
import sharp from 'sharp';

export interface RunHistory {
  /** Per training step (the run's global step, from 1). */
  steps: { step: number; loss: number; lr: number }[];
  /** Per epoch (from 1): test accuracy, a fraction. */
  epochs: { epoch: number; accuracy: number }[];
}

export const CURVE_COLORS = { rawLoss: '#a6cee3', loss: '#1f4e9c', accuracy: '#e6550d', lr: '#238b45' } as const;

/** TensorBoard's smoothing: an exponential moving average, debiased at the start. */
export function smooth(values: number[], weight = 0.6): number[] {
  let last = 0;
  let debias = 0;
  return values.map((v) => {
    last = last * weight + (1 - weight) * v;
    debias = debias * weight + (1 - weight);
    return last / debias;
  });
}

/** Round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export interface Panel {
  title: string;
  xLabel: string;
  left: number;
  top: number;
  width: number;
  height: number;
  xDomain: [number, number];
  yDomain: [number, number];
}

/** Pixel (x, y) of a data point in a panel. */
export function toPixel(p: Panel, x: number, y: number): [number, number] {
  const [x0, x1] = p.xDomain;
  const [y0, y1] = p.yDomain;
  const px = p.left + (x1 === x0 ? p.width / 2 : ((x - x0) / (x1 - x0)) * p.width);
  const py = p.top + p.height - (y1 === y0 ? p.height / 2 : ((y - y0) / (y1 - y0)) * p.height);
  return [px, py];
}

function domain(values: number[], pad = 0.05, floor?: number): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi === lo) [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
  const span = hi - lo;
  lo -= span * pad;
  hi += span * pad;
  if (floor !== undefined) lo = Math.max(floor, lo);
  return [lo, hi];
}

export interface CurvesLayout {
  width: number;
  height: number;
  loss: Panel;
  accuracy: Panel;
  lr: Panel;
}

export function curvesLayout(history: RunHistory, width = 1500, height = 460): CurvesLayout {
  const panelWidth = width / 3;
  const inner = { left: 78, right: 24, top: 44, bottom: 58 };
  const panel = (i: number, title: string, xLabel: string, xDomain: [number, number], yDomain: [number, number]): Panel => ({
    title,
    xLabel,
    left: i * panelWidth + inner.left,
    top: inner.top,
    width: panelWidth - inner.left - inner.right,
    height: height - inner.top - inner.bottom,
    xDomain,
    yDomain,
  });
  const stepDomain: [number, number] = history.steps.length ? [history.steps[0].step, history.steps[history.steps.length - 1].step] : [0, 1];
  const epochDomain: [number, number] = history.epochs.length ? [Math.min(1, history.epochs[0].epoch), Math.max(1, history.epochs[history.epochs.length - 1].epoch)] : [0, 1];
  return {
    width,
    height,
    loss: panel(0, 'training loss (per step; smoothed)', 'step', stepDomain, domain(history.steps.map((s) => s.loss), 0.05, 0)),
    accuracy: panel(1, 'test accuracy (per epoch)', 'epoch', epochDomain, domain(history.epochs.map((e) => e.accuracy), 0.1, 0)),
    lr: panel(2, 'learning rate', 'step', stepDomain, domain(history.steps.map((s) => s.lr), 0.05, 0)),
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function axes(p: Panel): string {
  const parts: string[] = [];
  const bottom = p.top + p.height;
  parts.push(`<rect x="${p.left}" y="${p.top}" width="${p.width}" height="${p.height}" fill="#ffffff" stroke="#444" stroke-width="1"/>`);
  for (const t of niceTicks(...p.yDomain)) {
    const [, y] = toPixel(p, p.xDomain[0], t);
    parts.push(`<line x1="${p.left}" y1="${y}" x2="${p.left + p.width}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<line x1="${p.left - 5}" y1="${y}" x2="${p.left}" y2="${y}" stroke="#444"/>`);
    parts.push(`<text x="${p.left - 8}" y="${y + 5}" font-size="14" text-anchor="end" fill="#222">${formatTick(t)}</text>`);
  }
  const xTicks = niceTicks(...p.xDomain).filter((t) => p.xDomain[1] - p.xDomain[0] >= 1 ? Number.isInteger(t) : true);
  for (const t of xTicks) {
    const [x] = toPixel(p, t, p.yDomain[0]);
    parts.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#444"/>`);
    parts.push(`<text x="${x}" y="${bottom + 21}" font-size="14" text-anchor="middle" fill="#222">${formatTick(t)}</text>`);
  }
  parts.push(`<text x="${p.left + p.width / 2}" y="${bottom + 44}" font-size="15" text-anchor="middle" fill="#222">${esc(p.xLabel)}</text>`);
  parts.push(`<text x="${p.left + p.width / 2}" y="${p.top - 14}" font-size="17" font-weight="bold" text-anchor="middle" fill="#111">${esc(p.title)}</text>`);
  return parts.join('');
}

function polyline(p: Panel, xs: number[], ys: number[], color: string, width: number): string {
  if (xs.length === 0) return '';
  const points = xs.map((x, i) => toPixel(p, x, ys[i]).map((v) => v.toFixed(2)).join(',')).join(' ');
  return `<polyline points="${points}" fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round" stroke-linecap="round"/>`;
}

function dots(p: Panel, xs: number[], ys: number[], color: string): string {
  return xs.map((x, i) => toPixel(p, x, ys[i])).map(([cx, cy]) => `<circle cx="${cx.toFixed(2)}" cy="${cy.toFixed(2)}" r="4.5" fill="${color}"/>`).join('');
}

function note(p: Panel, text: string): string {
  return `<text x="${p.left + p.width / 2}" y="${p.top + p.height / 2}" font-size="15" text-anchor="middle" fill="#777">${esc(text)}</text>`;
}

export function curvesSvg(history: RunHistory, layout = curvesLayout(history)): string {
  const { loss, accuracy, lr } = layout;
  const steps = history.steps.map((s) => s.step);
  const losses = history.steps.map((s) => s.loss);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fafafa"/>`,
    axes(loss),
    axes(accuracy),
    axes(lr),
  ];
  if (steps.length) {
    parts.push(polyline(loss, steps, losses, CURVE_COLORS.rawLoss, 1.5), polyline(loss, steps, smooth(losses), CURVE_COLORS.loss, 2.5));
    parts.push(polyline(lr, steps, history.steps.map((s) => s.lr), CURVE_COLORS.lr, 2.5));
  } else {
    parts.push(note(loss, 'no steps yet'), note(lr, 'no steps yet'));
  }
  if (history.epochs.length) {
    const xs = history.epochs.map((e) => e.epoch);
    const ys = history.epochs.map((e) => e.accuracy);
    parts.push(polyline(accuracy, xs, ys, CURVE_COLORS.accuracy, 2.5), dots(accuracy, xs, ys, CURVE_COLORS.accuracy));
  } else {
    parts.push(note(accuracy, 'no evaluation yet'));
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** The curves as a PNG. */
export async function renderCurves(history: RunHistory, layout = curvesLayout(history)): Promise<Buffer> {
  return sharp(Buffer.from(curvesSvg(history, layout))).png().toBuffer();
}
