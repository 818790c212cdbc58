// safetensors (the Hugging Face format): 8-byte little-endian header length, a JSON header with
// dtype / shape / data_offsets per tensor, then the raw little-endian data. Reading copies each
// tensor's bytes straight from the file buffer into libtorch; reading a file maps it instead and
// copies nothing (readSafetensorsFile).
import * as fs from 'node:fs';
import { DTYPE_BYTES, Tensor, checkHostCopy, fromBytes, readFileBytes, writeTensorsFile, type Dtype } from '../tensor';
import * as path from 'node:path';
import { temporaryFor, writeFileAtomic } from './atomic';
import { regularFileSize } from './files';
import { CheckpointError } from './torch-pth';

// No prototype: names read from files ('constructor', '__proto__') find nothing.
const CODES: Record<string, Dtype> = Object.setPrototypeOf({
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
}, null);
const CODE_OF = Object.fromEntries(Object.entries(CODES).map(([code, dtype]) => [dtype, code])) as Record<Dtype, string>;

/** Metadata key of this project's training checkpoints, and the prefix of their optimizer state
 * (SGD's as 'optimizer.momentum_buffer.<parameter>', AdamW's as 'optimizer.exp_avg.<parameter>'...). */
export const CHECKPOINT_FORMAT = 'resnet-native-checkpoint';
export const OPTIMIZER_PREFIX = 'optimizer.';

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** True when the bytes start like a safetensors file of `total` bytes (a sane header length, then '{'). */
export function looksLikeSafetensors(head: Uint8Array, total = head.length): boolean {
  if (head.length < 9 || total < 10) return false;
  const n = new DataView(head.buffer, head.byteOffset, head.byteLength).getBigUint64(0, true);
  return n > 1n && n <= BigInt(total - 8) && head[8] === 0x7b;
}

export interface SafetensorsContent {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

interface Entry {
  key: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates the header: every entry's dtype and byte range inside the data. */
function parseHeader(headerBytes: Uint8Array, dataLength: number, source: string): { entries: Entry[]; metadata: Record<string, string> } {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(headerBytes).toString('utf8'));
  } catch (err) {
    throw new CheckpointError(`${source} has a corrupt header: ${(err as Error).message}`);
  }
  const entries: Entry[] = [];
  for (const [key, value] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const entry = value as HeaderEntry;
    const dtype = CODES[entry?.dtype];
    if (!dtype) throw new CheckpointError(`${source}: tensor '${key}' has unsupported dtype ${JSON.stringify(entry?.dtype)}`);
    const [begin, end] = entry.data_offsets ?? [];
    const shape = entry.shape ?? [];
    const numel = shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end > dataLength || end - begin !== numel * DTYPE_BYTES[dtype]) {
      throw new CheckpointError(
        `${source}: tensor '${key}' [${shape}] ${dtype} needs ${numel * DTYPE_BYTES[dtype]} bytes but its offsets are ` +
          `${JSON.stringify(entry.data_offsets)} in ${dataLength} bytes of data (truncated or corrupt)`,
      );
    }
    entries.push({ key, dtype, shape, begin, end });
  }
  // Each tensor has bytes of its own: overlapping ranges (every tensor reading the same bytes)
  // are a crafted or corrupt file, not something any writer produces.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byOffset.length; i++) {
    const [prev, next] = [byOffset[i - 1], byOffset[i]];
    if (next.begin < prev.end) {
      throw new CheckpointError(`${source}: tensors '${prev.key}' [${prev.begin}, ${prev.end}) and '${next.key}' [${next.begin}, ${next.end}) overlap (corrupt or crafted file)`);
    }
  }
  return { entries, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
}

/** The safetensors format's own limit on the JSON header (as its reference implementation). */
const MAX_HEADER_BYTES = 100_000_000;

function headerLengthOf(prefix: Uint8Array, total: number, source: string): number {
  if (total < 8) throw new CheckpointError(`${source} is truncated: ${total} bytes`);
  const n = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (n > total - 8) throw new CheckpointError(`${source} is truncated or not safetensors: header of ${n} bytes in a ${total}-byte file`);
  if (n > MAX_HEADER_BYTES) {
    throw new CheckpointError(`${source}: header of ${n} bytes, more than the ${MAX_HEADER_BYTES} the safetensors format allows (corrupt or crafted file)`);
  }
  return n;
}

/** Builds tensors entry by entry, disposing what was made if one fails. */
function buildAll(entries: Entry[], make: (e: Entry) => Tensor): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  try {
    // defined, not assigned: a tensor named '__proto__' is a key like any other
    for (const e of entries) Object.defineProperty(tensors, e.key, { value: make(e), enumerable: true, writable: true, configurable: true });
  } catch (err) {
    for (const t of Object.values(tensors)) t.dispose();
    throw err;
  }
  return tensors;
}

/** Reads safetensors from bytes in memory (each tensor copied once, straight into libtorch). */
export function readSafetensors(bytes: Uint8Array, source = 'safetensors file'): SafetensorsContent {
  const headerLength = headerLengthOf(bytes, bytes.length, source);
  const data = bytes.subarray(8 + headerLength);
  const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + headerLength), data.length, source);
  const tensors = buildAll(entries, (e) => fromBytes(data.subarray(e.begin, e.end), e.shape, e.dtype, 'cpu'));
  return { tensors, metadata };
}

/**
 * Reads a safetensors file: its bytes are read once into memory (not mapped: a mapped file that
 * is later truncated faults, one rewritten changes the tensors), and each tensor is a view of
 * them, so the tensors own their data and do not depend on the file afterwards. A tensor whose
 * bytes are not aligned to its element size is copied.
 */
export function readSafetensorsFile(file: string): SafetensorsContent {
  const total = regularFileSize(file, 'safetensors file');
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  let headerBytes: Buffer;
  let headerLength: number;
  try {
    const prefix = Buffer.alloc(8);
    fs.readSync(fd, prefix, 0, 8, 0);
    headerLength = headerLengthOf(prefix, total, file);
    headerBytes = Buffer.alloc(headerLength);
    fs.readSync(fd, headerBytes, 0, headerLength, 8);
  } finally {
    fs.closeSync(fd);
  }
  const dataStart = 8 + headerLength;
  const { entries, metadata } = parseHeader(headerBytes, total - dataStart, file);
  const mapped = readFileBytes(file, total);
  try {
    const tensors = buildAll(entries, (e) => {
      const start = dataStart + e.begin;
      const bytes = mapped.narrow(0, start, e.end - e.begin);
      const aligned = start % DTYPE_BYTES[e.dtype] === 0;
      const source = aligned ? bytes : bytes.clone();
      const t = source.viewAs(e.dtype, e.shape);
      if (source !== bytes) source.dispose();
      bytes.dispose();
      return t;
    });
    return { tensors, metadata };
  } finally {
    mapped.dispose();
  }
}

/** The 8-byte length and the JSON header of a safetensors file holding `tensors` in order. */
function safetensorsHead(tensors: [string, Tensor][], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [key, t] of tensors) {
    const bytes = t.shape.reduce((n, d) => n * d, 1) * DTYPE_BYTES[t.dtype];
    // defined, not assigned: a tensor named '__proto__' is a key like any other
    Object.defineProperty(header, key, { value: { dtype: CODE_OF[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes] }, enumerable: true });
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data 8-byte aligned
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  head.write(json, 8, 'utf8');
  return head;
}

/** Serialises tensors (moved to the CPU, made contiguous) to safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const entries = Object.entries(tensors);
  const blobs = entries.map(([key, t]) => {
    checkHostCopy(t, 'saving safetensors', `'${key}'`);
    return t.toBytes();
  });
  return [safetensorsHead(entries, metadata), ...blobs];
}

/** saveSafetensors in the background: the tensors are copied now (by libtorch, not into
 * JavaScript buffers), then written, flushed and renamed into place on a native thread, whether
 * or not the caller's thread yields; the promise resolves once the file is whole in place. */
export async function saveSafetensorsInBackground(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  // (async: a folder that cannot be made rejects, as a failed write does; the copy and the
  // thread's start still happen before the first await)
  const entries = Object.entries(tensors);
  return writeTensorsFile(path.resolve(file), temporaryFor(file), safetensorsHead(entries, metadata), entries.map(([, t]) => t));
}

/** Writes a safetensors file atomically (temporary file, then rename). */
export function saveSafetensors(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
