// Python's string order (code point by code point), which torchvision's sorted() uses and which is
// neither localeCompare (locale rules: 'a' < 'B') nor JavaScript's default sort (UTF-16 units:
// U+1F600 sorts before U+FF01 as its surrogate 0xD83D is smaller).

const isSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdfff;

/** Negative, zero or positive as `a` sorts before, with or after `b` by code points. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // the first differing unit decides, except a surrogate (a code point above U+FFFF) against a
    // unit from U+E000 up, which UTF-16 puts after it
    const sx = isSurrogate(x);
    if (sx !== isSurrogate(y)) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
