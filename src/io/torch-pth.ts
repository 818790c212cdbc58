// Reads PyTorch checkpoints written by torch.save (zip format, PyTorch >= 1.6): the zip container
// (fflate) plus the restricted pickle reader. Only state-dict content is accepted; loading an
// untrusted file never runs code.
import { unzipSync } from 'fflate';
import { centralDirectoryCrcs, checkEntryCrc } from './zip-directory';
import { DTYPE_BYTES, Tensor, fromBytes, tidy, zeros, type Dtype } from '../tensor';
import { PickleError, unpickle, type PickleGlobal } from './pickle';
import { CheckpointError } from '../error-classes';
export { CheckpointError };

/** torch.<Name>Storage -> dtype */
// No prototype: names read from files ('constructor', '__proto__') find nothing.
const STORAGE_DTYPES: Record<string, Dtype> = Object.setPrototypeOf({
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
}, null);

interface StorageRef {
  readonly marker: 'storage';
  dtype: Dtype;
  key: string;
  numel: number;
}

const isZip = (b: Uint8Array) => b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;
// Legacy torch.save files start with a pickled magic number (protocol 2, LONG1 of 10 bytes).
const isLegacyTorch = (b: Uint8Array) => b.length >= 4 && b[0] === 0x80 && b[1] === 0x02 && b[2] === 0x8a && b[3] === 0x0a;

export function looksLikeTorchCheckpoint(bytes: Uint8Array): boolean {
  return isZip(bytes) || isLegacyTorch(bytes);
}

/** The largest data.pkl inflated: a state dict's pickle holds names and shapes only (ResNet152's
 * is under 100 KB); the tensors' bytes are separate entries. */
const MAX_PICKLE_BYTES = 64 * 2 ** 20;
/** A storage larger than this and compressed more than BOMB_RATIO times is refused uninflated. */
const BOMB_MIN_BYTES = 64 * 2 ** 20;
const BOMB_RATIO = 64;

/**
 * The object torch.save wrote, with tensors as Tensors (on the CPU), dicts as Maps and tuples
 * as arrays. `source` names the file in errors.
 */
export function readTorchCheckpoint(bytes: Uint8Array, source = 'checkpoint'): unknown {
  if (isLegacyTorch(bytes)) {
    throw new CheckpointError(
      `${source} uses the legacy torch.save format (PyTorch < 1.6), which is not supported: ` +
        're-save it with a current PyTorch (torch.save(torch.load(path), new_path)).',
    );
  }
  if (!isZip(bytes)) throw new CheckpointError(`${source} is not a PyTorch checkpoint (no zip header)`);
  // Only what a state dict needs is inflated, each entry after its declared size is checked:
  // the pickle, the byte order, and each storage the pickle names (against the bytes the
  // pickle says it holds). Nothing else in the archive is ever inflated, wherever it sits
  // (a few MB of zip can declare gigabytes of zeros).
  const declared = new Map<string, { originalSize: number; size: number; twice: boolean }>();
  const unzip = (keep: (file: { name: string; originalSize: number; size: number }) => boolean): Record<string, Uint8Array> => {
    try {
      return unzipSync(bytes, { filter: keep });
    } catch (err) {
      throw new CheckpointError(`${source} is truncated or corrupt: ${(err as Error).message}`);
    }
  };
  // The directory alone: names and declared sizes, nothing inflated.
  unzip(({ name, originalSize, size }) => {
    const seen = declared.get(name);
    declared.set(name, { originalSize: Math.max(originalSize, seen?.originalSize ?? 0), size, twice: seen !== undefined });
    return false;
  });
  const crcs = centralDirectoryCrcs(bytes);
  /** The inflated entry, or undefined when the archive has none of that name. */
  const entry = (name: string, limit: number, what: string): Uint8Array | undefined => {
    const info = declared.get(name);
    if (!info) return undefined;
    if (info.twice) throw new CheckpointError(`${source}: the archive holds more than one entry named ${name} (corrupt or crafted file)`);
    if (info.originalSize > limit) {
      throw new CheckpointError(`${source}: zip entry ${name} declares ${info.originalSize} bytes for ${what}: corrupt or crafted file, not inflated`);
    }
    const data = unzip((f) => f.name === name)[name];
    checkEntryCrc(crcs, name, data, (m) => new CheckpointError(`${source}: ${m}`));
    return data;
  };
  const pickleName = [...declared.keys()].find((name) => name.endsWith('/data.pkl') || name === 'data.pkl');
  if (!pickleName) throw new CheckpointError(`${source} is a zip file but not a torch.save checkpoint (no data.pkl)`);
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  const byteorder = entry(`${prefix}byteorder`, 16, 'a byte order (at most 16 bytes)');
  if (byteorder && Buffer.from(byteorder).toString() !== 'little') {
    throw new CheckpointError(`${source} was written on a big-endian machine, which is not supported`);
  }

  const storages = new Map<string, Tensor>();
  const storageTensor = (ref: StorageRef): Tensor => {
    let t = storages.get(ref.key);
    if (!t) {
      const name = `${prefix}data/${ref.key}`;
      const info = declared.get(name);
      if (!info) throw new CheckpointError(`${source}: storage ${ref.key} is missing from the archive`);
      const bytesNeeded = ref.numel * DTYPE_BYTES[ref.dtype];
      // torch.save stores storages uncompressed; weights deflate by a few percent at most. A
      // storage the pickle and the entry both declare huge but that is compressed far below
      // that is zeros made to be inflated (a bomb), refused before inflating.
      if (info.originalSize > BOMB_MIN_BYTES && info.originalSize > BOMB_RATIO * info.size) {
        throw new CheckpointError(
          `${source}: storage ${ref.key} declares ${info.originalSize} bytes compressed into ${info.size} (more than ${BOMB_RATIO}x): ` +
            'torch.save does not compress storages; a crafted file, not inflated',
        );
      }
      const data = entry(name, bytesNeeded, `a storage of ${ref.numel} ${ref.dtype} elements (${bytesNeeded} bytes)`)!;
      if (data.length < bytesNeeded) {
        throw new CheckpointError(`${source}: storage ${ref.key} has ${data.length} bytes, ${bytesNeeded} expected (truncated?)`);
      }
      t = fromBytes(data.subarray(0, bytesNeeded), [ref.numel], ref.dtype, 'cpu');
      storages.set(ref.key, t);
    }
    return t;
  };

  const rebuildTensor = (storage: unknown, offset: unknown, size: unknown, stride: unknown): Tensor => {
    const ref = storage as StorageRef;
    if (ref?.marker !== 'storage') throw new CheckpointError(`${source}: tensor without a storage`);
    const shape = size as number[];
    const strides = stride as number[];
    const off = offset as number;
    const counts = (v: unknown) => Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!counts(shape) || !counts(strides) || shape.length !== strides.length || !Number.isSafeInteger(off) || off < 0) {
      throw new CheckpointError(
        `${source}: a tensor of storage ${ref.key} has size ${JSON.stringify(size)}, stride ${JSON.stringify(stride)} and offset ${JSON.stringify(offset)}: ` +
          'expected non-negative integers, one stride per dimension (corrupt file)',
      );
    }
    const span = shape.reduce((acc, d, i) => (d === 0 ? acc : acc + (d - 1) * strides[i]), 1);
    if (shape.some((d) => d === 0)) return zeros(shape, { dtype: ref.dtype, device: 'cpu' });
    if (off + span > ref.numel) {
      throw new CheckpointError(`${source}: tensor [${shape.join(', ')}] reaches past its storage ${ref.key} (corrupt file)`);
    }
    // A copy, so tensors are independent of each other and of shared storages; except a view
    // with more elements than its storage (zero strides, as from expand()): copying it could
    // take gigabytes from a few kilobytes of file, so it stays a view, as torch.load keeps it.
    const view = storageTensor(ref).asStrided(shape, strides, off);
    if (shape.reduce((a, d) => a * d, 1) > ref.numel) return view;
    const copy = view.clone();
    view.dispose();
    return copy;
  };

  const storageMarker = (name: string) => ({ marker: `torch.${name}` });
  const globals: Record<string, PickleGlobal> = {
    'collections.OrderedDict': () => new Map(),
    'builtins.dict': () => new Map(),
    'torch._utils._rebuild_tensor_v2': (storage, offset, size, stride) => rebuildTensor(storage, offset, size, stride),
    'torch._utils._rebuild_tensor': (storage, offset, size, stride) => rebuildTensor(storage, offset, size, stride),
    'torch._utils._rebuild_parameter': (data) => data,
    // protocol-2 pickles spell bytes as _codecs.encode(text, 'latin1')
    '_codecs.encode': (text, encoding) => Uint8Array.from(Buffer.from(String(text), (encoding as BufferEncoding) ?? 'utf8')),
  };
  for (const name of Object.keys(STORAGE_DTYPES)) globals[`torch.${name}`] = storageMarker(name);

  const persistentLoad = (pid: unknown): StorageRef => {
    const [kind, type, key, , numel] = pid as [string, { marker: string }, string, string, number];
    const dtype = STORAGE_DTYPES[type?.marker?.replace('torch.', '') ?? ''];
    if (kind !== 'storage' || !dtype || typeof key !== 'string' || typeof numel !== 'number') {
      throw new CheckpointError(`${source}: unsupported persistent id ${JSON.stringify(pid)}`);
    }
    return { marker: 'storage', dtype, key, numel };
  };

  try {
    // tidy: a load that fails half-way frees the tensors it had built at once, not at some GC.
    return tidy(() => unpickle(entry(pickleName, MAX_PICKLE_BYTES, `the pickle (at most ${MAX_PICKLE_BYTES} bytes)`)!, { globals, persistentLoad, source }));
  } catch (err) {
    if (err instanceof PickleError) throw new CheckpointError(err.message);
    throw err;
  } finally {
    for (const t of storages.values()) t.dispose();
  }
}

const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'network'];

/**
 * The state dict in a torch.save file: the top-level dict of tensors, or one nested under a
 * usual key ('state_dict', 'model', ...), as training scripts save it.
 */
export function torchStateDict(bytes: Uint8Array, source = 'checkpoint'): Record<string, Tensor> {
  // Whatever else the file holds (optimizer state, ...) is freed here, and everything on failure.
  return tidy(() => stateDictIn(readTorchCheckpoint(bytes, source), source));
}

function stateDictIn(root: unknown, source: string): Record<string, Tensor> {
  const tensorsOf = (value: unknown): Record<string, Tensor> | null => {
    if (!(value instanceof Map) || value.size === 0) return null;
    const entries = [...value.entries()];
    if (!entries.every(([k, v]) => typeof k === 'string' && v instanceof Tensor)) return null;
    return Object.fromEntries(entries) as Record<string, Tensor>;
  };
  const direct = tensorsOf(root);
  if (direct) return direct;
  if (root instanceof Map) {
    for (const key of STATE_DICT_KEYS) {
      const nested = tensorsOf(root.get(key));
      if (nested) return nested;
    }
  }
  throw new CheckpointError(
    `${source} holds no state dict: expected a dict of tensors, or one under ${STATE_DICT_KEYS.map((k) => `'${k}'`).join(', ')}`,
  );
}
