// Pillow's bilinear resampling (libImaging/Resample.c) on interleaved RGB bytes, for the axes an
// image is enlarged along. libvips reduces (shrinks) as Pillow does, within a level or so, but it
// enlarges with an affine transform whose sampling grid is offset from Pillow's by a fraction of a
// pixel (measured: 11-15 levels of mean difference on natural images); enlarging takes only two
// taps an output pixel, cheap enough in JavaScript, so it is done here the way Pillow does it:
// triangle-filter weights per output pixel (centre (x + 0.5) * scale), rounded to 22-bit fixed
// point, each pass rounded to bytes, the horizontal pass first.

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const MAX = 1 << (PRECISION_BITS + 8);

/** One axis's weights: output pixel i reads `count[i]` inputs from `first[i]` with `weights`. */
interface AxisWeights {
  taps: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1,
 * widened by the scale when shrinking), for outputs from..from+n of an inSize -> outSize axis. */
function axisWeights(inSize: number, outSize: number, from: number, n: number): AxisWeights {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * taps);
  const w = new Float64Array(taps);
  const inverse = 1 / filterScale; // (multiplied, as Pillow does: a division rounds differently)
  for (let i = 0; i < n; i++) {
    const center = (from + i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const len = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    let total = 0;
    for (let k = 0; k < len; k++) {
      const t = Math.abs((k + lo - center + 0.5) * inverse);
      w[k] = t < 1 ? 1 - t : 0;
      total += w[k];
    }
    for (let k = 0; k < len; k++) {
      const v = total !== 0 ? w[k] / total : w[k];
      weights[i * taps + k] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    first[i] = lo;
    count[i] = len;
  }
  return { taps, first, count, weights };
}

const clip8 = (v: number) => (v >= MAX ? 255 : v <= 0 ? 0 : v >> PRECISION_BITS);

/** Resamples rows [rowFrom, rowFrom + rows) of an RGB image `width` wide to `ax`'s outputs. */
function horizontal(src: Uint8Array, width: number, rowFrom: number, rows: number, ax: AxisWeights): Uint8Array {
  const outW = ax.first.length;
  const out = new Uint8Array(outW * rows * 3);
  const { taps, first, count, weights } = ax;
  for (let y = 0; y < rows; y++) {
    const row = (rowFrom + y) * width * 3;
    let o = 3 * y * outW;
    for (let x = 0; x < outW; x++, o += 3) {
      const p = row + 3 * first[x];
      if (count[x] === 2) {
        // (enlarging: two pixels an output pixel)
        const [w0, w1] = [weights[x * taps], weights[x * taps + 1]];
        out[o] = clip8(HALF + Math.imul(src[p], w0) + Math.imul(src[p + 3], w1));
        out[o + 1] = clip8(HALF + Math.imul(src[p + 1], w0) + Math.imul(src[p + 4], w1));
        out[o + 2] = clip8(HALF + Math.imul(src[p + 2], w0) + Math.imul(src[p + 5], w1));
        continue;
      }
      let r = HALF;
      let g = HALF;
      let b = HALF;
      // (Math.imul: the products stay below 2^31, and integer arithmetic is what V8 runs fastest)
      for (let k = x * taps, end = k + count[x], q = p; k < end; k++, q += 3) {
        const wk = weights[k];
        r += Math.imul(src[q], wk);
        g += Math.imul(src[q + 1], wk);
        b += Math.imul(src[q + 2], wk);
      }
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return out;
}

/** Resamples the columns of an RGB image `width` wide whose row 0 is input row `rowShift`. */
function vertical(src: Uint8Array, width: number, rowShift: number, ax: AxisWeights): Uint8Array {
  const outH = ax.first.length;
  const rowLen = width * 3;
  const out = new Uint8Array(outH * rowLen);
  const acc = new Int32Array(rowLen);
  const { taps, first, count, weights } = ax;
  for (let y = 0; y < outH; y++) {
    const o = y * rowLen;
    const a = (first[y] - rowShift) * rowLen;
    if (count[y] === 2) {
      // (enlarging: two rows an output row, in one pass)
      const [w0, w1] = [weights[y * taps], weights[y * taps + 1]];
      for (let i = 0; i < rowLen; i++) out[o + i] = clip8(HALF + Math.imul(src[a + i], w0) + Math.imul(src[a + rowLen + i], w1));
      continue;
    }
    acc.fill(HALF);
    for (let k = 0; k < count[y]; k++) {
      const wk = weights[y * taps + k];
      const row = a + k * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += Math.imul(src[row + i], wk);
    }
    for (let i = 0; i < rowLen; i++) out[o + i] = clip8(acc[i]);
  }
  return out;
}

/** A window of an output image: rows top..top+height, columns left..left+width. */
export interface Window {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The input range [from, to) that an axis's outputs read. */
function span(ax: AxisWeights): [number, number] {
  const last = ax.first.length - 1;
  return [ax.first[0], ax.first[last] + ax.count[last]];
}

/** Rows [top, top + rows) and columns [left, left + cols) of an RGB image `width` wide. */
function region(src: Uint8Array, width: number, left: number, top: number, cols: number, rows: number): Uint8Array {
  if (left === 0 && cols === width) return src.subarray(top * width * 3, (top + rows) * width * 3);
  const out = new Uint8Array(rows * cols * 3);
  for (let y = 0; y < rows; y++) out.set(src.subarray(((top + y) * width + left) * 3, ((top + y) * width + left + cols) * 3), y * cols * 3);
  return out;
}

/**
 * Pillow's Image.resize((outW, outH), BILINEAR) of a width x height RGB image, the output window
 * `win` only (default all of it). An axis whose size does not change is not resampled. Pillow
 * resamples horizontally first, except when it enlarges across and shrinks down (then the
 * vertical pass comes first); each pass rounds to bytes, so the order shows in the last bit.
 */
export function pilResize(src: Uint8Array, width: number, height: number, outW: number, outH: number, win: Window = { top: 0, left: 0, width: outW, height: outH }): Uint8Array {
  const horiz = outW !== width ? axisWeights(width, outW, win.left, win.width) : null;
  const vert = outH !== height ? axisWeights(height, outH, win.top, win.height) : null;
  const [colFrom, colTo] = horiz ? span(horiz) : [win.left, win.left + win.width];
  const [rowFrom, rowTo] = vert ? span(vert) : [win.top, win.top + win.height];
  // only the pixels the window reads, with the weights' positions made relative to them
  let data = region(src, width, colFrom, rowFrom, colTo - colFrom, rowTo - rowFrom);
  let w = colTo - colFrom;
  if (horiz) horiz.first.forEach((f, i) => (horiz.first[i] = f - colFrom));
  if (vert) vert.first.forEach((f, i) => (vert.first[i] = f - rowFrom));
  const verticalFirst = outW > width && outH < height;
  if (vert && verticalFirst) data = vertical(data, w, 0, vert);
  if (horiz) {
    data = horizontal(data, w, 0, data.length / (3 * w), horiz);
    w = win.width;
  }
  if (vert && !verticalFirst) data = vertical(data, w, 0, vert);
  return data === src ? data.slice() : data;
}
