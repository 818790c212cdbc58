// The classes of one row of scores (probabilities or logits), highest first: what predict,
// Classifier, the classify route and the protocol's classification extension all report.
import type { Prediction } from './classifier';

export interface RankedClass {
  index: number;
  label: string;
  score: number;
}

/** The top `k` classes of row `row` of `values` ([rows, classes], row-major). */
export function topClasses(values: Float32Array, row: number, classes: number, names: readonly string[], k: number): RankedClass[] {
  return Array.from(values.subarray(row * classes, (row + 1) * classes), (score, index) => ({ index, label: names[index], score }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

/** A row of probabilities as a prediction: the most probable class, and the top `k`. */
export function predictionOf(probabilities: Float32Array, row: number, classes: number, names: readonly string[], k: number): Prediction {
  const top = topClasses(probabilities, row, classes, names, k).map(({ index, label, score }) => ({ index, label, probability: score }));
  return { ...top[0], top };
}
