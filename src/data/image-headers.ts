// The headers of the formats torchvision reads (through PIL) that sharp does not: BMP, and PPM /
// PGM (netpbm). Each gives the declared size and, where the pixels are stored uncompressed, the
// bytes the file must hold, so a truncated one is found from its header and its size alone.
// Reasons are thrown as plain Errors; the checker names the file.

/** What an image's header declares. */
export interface ImageHeader {
  /** 'jpeg', 'png', 'webp', 'tiff', 'bmp', 'ppm', 'pgm', ... (sharp's names where sharp reads it). */
  format: string;
  width: number;
  height: number;
  /** The least size the file can have, where the header tells it (uncompressed pixels). */
  minBytes?: number;
}

export const isBmp = (head: Buffer) => head.length >= 2 && head[0] === 0x42 && head[1] === 0x4d; // 'BM'
export const isPnm = (head: Buffer) => head.length >= 2 && head[0] === 0x50 && head[1] >= 0x31 && head[1] <= 0x36; // 'P1'..'P6'

// PIL's BmpImagePlugin: the info header sizes and compressions it reads (RGB, RLE8, RLE4, bitfields)
const BMP_INFO_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);
const BMP_COMPRESSIONS = new Map([[0, 'none'], [1, 'RLE8'], [2, 'RLE4'], [3, 'bitfields'], [6, 'alpha bitfields']]);
const BMP_DEPTHS = new Set([1, 2, 4, 8, 16, 24, 32]);

/** A BMP's declared size; `head` holds (at least) its first 4 KB, `fileSize` is the whole file's. */
export function parseBmpHeader(head: Buffer, fileSize: number): ImageHeader {
  const truncated = () => new Error(`is a truncated BMP file (${fileSize} bytes: its headers are cut short)`);
  if (head.length < 18) throw truncated();
  const offset = head.readUInt32LE(10);
  const info = head.readUInt32LE(14);
  if (!BMP_INFO_SIZES.has(info)) throw new Error(`is not a BMP file PIL reads (an info header of ${info} bytes)`);
  if (head.length < 14 + info) throw truncated();
  const core = info === 12;
  const width = core ? head.readUInt16LE(18) : head.readInt32LE(18);
  const signedHeight = core ? head.readUInt16LE(20) : head.readInt32LE(22);
  const depth = head.readUInt16LE(core ? 24 : 28);
  const compression = core ? 0 : head.readUInt32LE(30);
  if (width <= 0 || signedHeight === 0) throw new Error(`is a corrupt BMP file: it declares ${width} x ${signedHeight} pixels`);
  if (!BMP_DEPTHS.has(depth)) throw new Error(`is a corrupt BMP file: ${depth} bits a pixel`);
  if (!BMP_COMPRESSIONS.has(compression)) throw new Error(`is a BMP file with compression ${compression}, which PIL does not read`);
  if (offset < 14 + info || offset >= fileSize) throw new Error(`is a corrupt BMP file: its pixels would start at byte ${offset} of ${fileSize}`);
  const height = Math.abs(signedHeight); // negative: rows stored top-down
  // rows padded to 4 bytes; compressed pixels have no size known from the header
  const rowBytes = Math.floor((depth * width + 31) / 32) * 4;
  const stored = compression === 1 || compression === 2 ? undefined : offset + rowBytes * height;
  return { format: 'bmp', width, height, minBytes: stored };
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** The numbers of a netpbm header after its magic, and where the pixels start; null if `head`
 * ends first. Comments run from '#' to the end of the line; one white space ends the header. */
export function pnmFields(head: Buffer, count: number): { values: number[]; dataStart: number } | null {
  const values: number[] = [];
  let i = 2;
  while (values.length < count) {
    while (i < head.length && (isSpace(head[i]) || head[i] === 0x23)) {
      if (head[i] === 0x23) while (i < head.length && head[i] !== 0x0a && head[i] !== 0x0d) i++;
      else i++;
    }
    if (i >= head.length) return null;
    const start = i;
    while (i < head.length && head[i] >= 0x30 && head[i] <= 0x39) i++;
    if (i === start || (i < head.length && !isSpace(head[i]) && head[i] !== 0x23)) {
      let end = i;
      while (end < head.length && end - start < 12 && !isSpace(head[end])) end++;
      throw new Error(`is a corrupt P${String.fromCharCode(head[1])} netpbm file: its header holds '${head.subarray(start, end).toString('latin1')}' where a number belongs`);
    }
    if (i >= head.length) return null;
    values.push(Number(head.subarray(start, i).toString('latin1')));
  }
  return { values, dataStart: i + 1 };
}

/** A PBM / PGM / PPM's declared size (magic P1..P6). For the binary kinds (P4, P5, P6) the pixel
 * bytes are known, so a truncated file is told by its size. */
export function parsePnmHeader(head: Buffer, fileSize: number): ImageHeader {
  const kind = head[1] - 0x30;
  const bitmap = kind === 1 || kind === 4;
  const fields = pnmFields(head, bitmap ? 2 : 3);
  if (fields === null) {
    throw new Error(head.length >= fileSize ? `is a truncated netpbm (P${kind}) file: its header is cut short` : `is a netpbm (P${kind}) file whose header is longer than ${head.length} bytes`);
  }
  const [width, height, maxval = 1] = fields.values;
  const format = kind === 1 || kind === 4 ? 'pbm' : kind === 2 || kind === 5 ? 'pgm' : 'ppm';
  if (width < 1 || height < 1) throw new Error(`is a corrupt ${format.toUpperCase()} file: it declares ${width} x ${height} pixels`);
  if (maxval < 1 || maxval > 65535) throw new Error(`is a corrupt ${format.toUpperCase()} file: maximum value ${maxval} (1 to 65535)`);
  const sampleBytes = maxval > 255 ? 2 : 1;
  const pixels = kind === 4 ? Math.ceil(width / 8) * height : kind === 5 ? width * height * sampleBytes : kind === 6 ? 3 * width * height * sampleBytes : undefined;
  return { format, width, height, minBytes: pixels === undefined ? undefined : fields.dataStart + pixels };
}
