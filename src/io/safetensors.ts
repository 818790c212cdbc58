// safetensors (the Hugging Face format): 8-byte little-endian header length, a JSON header with
// dtype / shape / data_offsets per tensor, then the raw little-endian data. Reading copies each
// tensor's bytes straight from the file buffer into libtorch (no intermediate JavaScript copy).
import { native } from '../native';
import { Tensor, type Dtype } from '../tensor';
import { writeFileAtomic } from './atomic';
import { CheckpointError } from './torch-pth';

const CODES: Record<string, Dtype> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const SIZES: Record<Dtype, number> = { float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };
const CODE_OF = Object.fromEntries(Object.entries(CODES).map(([code, dtype]) => [dtype, code])) as Record<Dtype, string>;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** True when the bytes start like a safetensors file (a sane header length, then '{'). */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  return n > 1n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}

export interface SafetensorsContent {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

export function readSafetensors(bytes: Uint8Array, source = 'safetensors file'): SafetensorsContent {
  if (bytes.length < 8) throw new CheckpointError(`${source} is truncated: ${bytes.length} bytes`);
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  if (headerLength > bytes.length - 8) {
    throw new CheckpointError(`${source} is truncated or not safetensors: header of ${headerLength} bytes in a ${bytes.length}-byte file`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8'));
  } catch (err) {
    throw new CheckpointError(`${source} has a corrupt header: ${(err as Error).message}`);
  }
  const data = bytes.subarray(8 + headerLength);
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: Record<string, Tensor> = {};
  try {
    for (const [key, value] of Object.entries(header)) {
      if (key === '__metadata__') continue;
      const entry = value as HeaderEntry;
      const dtype = CODES[entry?.dtype];
      if (!dtype) throw new CheckpointError(`${source}: tensor '${key}' has unsupported dtype ${JSON.stringify(entry?.dtype)}`);
      const [begin, end] = entry.data_offsets ?? [];
      const numel = (entry.shape ?? []).reduce((a, b) => a * b, 1);
      if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end > data.length || end - begin !== numel * SIZES[dtype]) {
        throw new CheckpointError(
          `${source}: tensor '${key}' [${entry.shape}] ${dtype} needs ${numel * SIZES[dtype]} bytes but its offsets are ` +
            `${JSON.stringify(entry.data_offsets)} in ${data.length} bytes of data (truncated or corrupt)`,
        );
      }
      tensors[key] = new Tensor(native.fromBytes(data.subarray(begin, end), entry.shape, dtype, 'cpu'));
    }
  } catch (err) {
    for (const t of Object.values(tensors)) t.dispose();
    throw err;
  }
  return { tensors, metadata };
}

/** Serialises tensors (moved to the CPU, made contiguous) to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    const bytes = native.toBytes(t.handle);
    header[key] = { dtype: CODE_OF[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data 8-byte aligned
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return [prefix, Buffer.from(json, 'utf8'), ...blobs];
}

/** Writes a safetensors file atomically (temporary file, then rename). */
export function saveSafetensors(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
