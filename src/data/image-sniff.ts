// What a JPEG's or PNG's header says, read here rather than by sharp's metadata(): each call into
// sharp costs about as much as decoding a small image (an options object crossed into C++, a
// libvips pipeline built, a hand-off to libuv's thread pool), and the loader needs an image's
// size before it can draw the crop. Only the common kinds are answered (8-bit RGB or grey,
// nothing that gives an alpha band); for anything else the caller asks sharp.

/** A JPEG or PNG that decodes to 3 (RGB) or 1 (grey) bands of 8 bits. */
export interface PlainHeader {
  width: number;
  height: number;
  grey: boolean;
}

const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** A baseline or progressive JPEG of 1 or 3 components at 8 bits, from its frame header. */
function jpegHeader(b: Buffer): PlainHeader | null {
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    const length = b.readUInt16BE(at + 2);
    if (isSof(marker)) {
      if (at + 10 > b.length) return null;
      const [precision, height, width, components] = [b[at + 4], b.readUInt16BE(at + 5), b.readUInt16BE(at + 7), b[at + 9]];
      // (a height of 0 is given later, in a DNL marker: sharp reads those)
      if (precision !== 8 || height === 0 || width === 0 || (components !== 1 && components !== 3)) return null;
      return { width, height, grey: components === 1 };
    }
    if (marker === 0xda || length < 2) return null; // scan data before any frame header
    at += 2 + length;
  }
  return null;
}

/** An 8-bit RGB or grey PNG without a transparency chunk (libvips would add alpha for it). */
function pngHeader(b: Buffer): PlainHeader | null {
  if (b.length < 33 || b.toString('latin1', 12, 16) !== 'IHDR') return null;
  const [width, height, depth, colour, interlace] = [b.readUInt32BE(16), b.readUInt32BE(20), b[24], b[25], b[28]];
  if (depth !== 8 || (colour !== 0 && colour !== 2) || interlace > 1 || width === 0 || height === 0) return null;
  for (let at = 33; at + 8 <= b.length; ) {
    const type = b.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT' || type === 'IEND') return { width, height, grey: colour === 0 };
    if (type === 'tRNS') return null;
    at += 12 + b.readUInt32BE(at);
  }
  return null;
}

/** The header of a plain JPEG or PNG; null for anything else (or anything unusual). */
export function plainHeader(b: Buffer): PlainHeader | null {
  if (b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return jpegHeader(b);
  if (b.length > 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return pngHeader(b);
  return null;
}
