// The CRC-32 that a zip archive's central directory records for each entry, so that inflated
// entries can be checked (fflate inflates without checking; a flipped byte in a stored entry
// would otherwise load as a silently wrong weight). Standard and zip64 end records.
import { crc32 } from 'node:zlib';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL_ENTRY = 0x02014b50;

/** Entry name -> CRC-32 from the central directory; null when the directory cannot be found. */
export function centralDirectoryCrcs(zip: Uint8Array): Map<string, number> | null {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // The end record is in the last 22 + 65,535 (comment) bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return null;
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || offset === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_LOCATOR) {
    const record = Number(view.getBigUint64(eocd - 20 + 8, true));
    if (record + 56 > zip.length || view.getUint32(record, true) !== ZIP64_EOCD) return null;
    count = Number(view.getBigUint64(record + 32, true));
    offset = Number(view.getBigUint64(record + 48, true));
  }
  const crcs = new Map<string, number>();
  let p = offset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > zip.length || view.getUint32(p, true) !== CENTRAL_ENTRY) return null;
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const name = Buffer.from(zip.buffer, zip.byteOffset + p + 46, nameLength).toString('utf8');
    crcs.set(name, view.getUint32(p + 16, true));
    p += 46 + nameLength + extraLength + commentLength;
  }
  return crcs;
}

/** Throws `fail(message)` when `data`'s CRC-32 is not the one recorded for `name`. */
export function checkEntryCrc(crcs: Map<string, number> | null, name: string, data: Uint8Array, fail: (message: string) => Error): void {
  const expected = crcs?.get(name);
  if (expected === undefined) return;
  const actual = crc32(data) >>> 0;
  if (actual !== expected) {
    throw fail(`zip entry ${name} is corrupt: its CRC-32 is ${actual.toString(16).padStart(8, '0')}, the archive records ${expected.toString(16).padStart(8, '0')}`);
  }
}
