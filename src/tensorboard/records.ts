// TFRecord framing, the container of TensorBoard event files: each record is its length (uint64,
// little-endian), the masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the data.
// The CRC is Castagnoli's (crc-32's crc32c, a well-kept package); masking is TensorFlow's
// rotate-and-add, so that a CRC stored inside checksummed data does not checksum to a constant.
import * as CRC32C from 'crc-32/crc32c';

const MASK_DELTA = 0xa282ead8;

export function maskedCrc32c(data: Uint8Array): number {
  const crc = CRC32C.buf(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** One record, framed. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

export interface ReadRecords {
  records: Buffer[];
  /** Bytes after the last whole record: a record cut short (a writer killed mid-write, or a file
   * still being written). Those bytes are not a record yet; TensorBoard ignores them too. */
  trailingBytes: number;
}

/**
 * The whole records of a TFRecord file's bytes. A record cut off at the end is left out (see
 * trailingBytes); a record whose length or data does not match its CRC throws, naming the file
 * and offset, since what follows it cannot be trusted.
 */
export function readRecords(bytes: Buffer, file = 'event file'): ReadRecords {
  const records: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 12) break;
    const header = bytes.subarray(offset, offset + 8);
    if (bytes.readUInt32LE(offset + 8) !== maskedCrc32c(header)) throw new Error(`${file}: the record at byte ${offset} has a corrupt length (CRC mismatch)`);
    const length = Number(bytes.readBigUInt64LE(offset));
    if (bytes.length - offset - 12 < length + 4) break;
    const data = bytes.subarray(offset + 12, offset + 12 + length);
    if (bytes.readUInt32LE(offset + 12 + length) !== maskedCrc32c(data)) throw new Error(`${file}: the record at byte ${offset} has corrupt data (CRC mismatch)`);
    records.push(data);
    offset += 12 + length + 4;
  }
  return { records, trailingBytes: bytes.length - offset };
}
