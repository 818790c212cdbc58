export { renderCurves, curvesSvg, curvesLayout, toPixel, smooth, niceTicks, CURVE_COLORS } from './curves';
export type { RunHistory, Panel, CurvesLayout } from './curves';
export { loadHistory, historyFromNdjson, historyFromEventFiles, METRICS_FILE } from './history';
export { CurvesCallback, CURVES_FILE } from './curves-callback';
import { writeFileAtomic } from '../io/atomic';
import { renderCurves } from './curves';
import { loadHistory } from './history';

/** `plot`: the curves of a run folder or NDJSON log, written to `out` as a PNG. */
export async function plotRun(source: string, out = 'curves.png'): Promise<{ out: string; steps: number; epochs: number }> {
  const history = loadHistory(source);
  writeFileAtomic(out, [await renderCurves(history)]);
  return { out, steps: history.steps.length, epochs: history.epochs.length };
}
