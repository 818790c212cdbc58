// MindSpore .ckpt files (protobuf, proto2), parsed with protobufjs from the published schema,
// and the tutorial network's parameter names mapped to torchvision's.
import * as protobuf from 'protobufjs';
import { DTYPE_BYTES, Tensor, fromBytes, zeros, type Dtype } from '../tensor';
import { CheckpointError } from './torch-pth';

const SCHEMA = `
syntax = "proto2";
message Checkpoint {
  message Value {
    required string tag = 1;
    oneof value {
      TensorProto tensor = 2;
      MapTensorProto maptensor = 3;
    }
  }
  repeated Value value = 1;
}
message TensorProto {
  repeated int64 dims = 1;
  required string tensor_type = 2;
  required bytes tensor_content = 3;
}
message MapTensorProto {
  repeated TensorProto tensor = 1;
}
`;

const Checkpoint = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('Checkpoint');

// No prototype: names read from files ('constructor', '__proto__') find nothing.
const TYPES: Record<string, Dtype> = Object.setPrototypeOf({
  Float32: 'float32',
  Float64: 'float64',
  Float16: 'float16',
  BFloat16: 'bfloat16',
  Int64: 'int64',
  Int32: 'int32',
  Int16: 'int16',
  Int8: 'int8',
  UInt8: 'uint8',
  Bool: 'bool',
}, null);

interface DecodedValue {
  tag: string;
  tensor?: { dims: number[]; tensor_type: string; tensor_content: Uint8Array };
  maptensor?: unknown;
}

/**
 * torchvision's key for a parameter of the MindSpore tutorial's ResNet:
 * norm.* -> bn1.*, layerL.B.normK.* -> layerL.B.bnK.*, down_sample -> downsample,
 * gamma / beta / moving_mean / moving_variance -> weight / bias / running_mean / running_var.
 */
export function mindsporeToTorchName(name: string): string {
  return name
    .replace(/^norm\./, 'bn1.')
    .replace(/\.norm(\d+)\./, '.bn$1.')
    .replace(/\.down_sample\./, '.downsample.')
    .replace(/\.gamma$/, '.weight')
    .replace(/\.beta$/, '.bias')
    .replace(/\.moving_mean$/, '.running_mean')
    .replace(/\.moving_variance$/, '.running_var');
}

function decode(bytes: Uint8Array, source: string): DecodedValue[] {
  let message: protobuf.Message;
  try {
    message = Checkpoint.decode(bytes);
  } catch (err) {
    throw new CheckpointError(`${source} is not a readable MindSpore checkpoint: ${(err as Error).message}`);
  }
  const plain = Checkpoint.toObject(message, { longs: Number, arrays: true }) as { value: DecodedValue[] };
  return plain.value;
}

/** True when the bytes parse as a MindSpore checkpoint holding at least one tensor. */
export function looksLikeMindspore(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes[0] !== 0x0a) return false; // field 1, length-delimited
  try {
    const values = decode(bytes, '');
    return values.length > 0 && values.every((v) => typeof v.tag === 'string' && (v.tensor || v.maptensor));
  } catch {
    return false;
  }
}

/**
 * The tensors of a MindSpore checkpoint under torchvision's names. MindSpore's BatchNorm keeps no
 * batch count, so each mapped BatchNorm gets num_batches_tracked = 0, as a fresh PyTorch one.
 */
export function readMindsporeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  try {
    for (const value of decode(bytes, source)) {
      if (!value.tensor) throw new CheckpointError(`${source}: parameter '${value.tag}' is a map tensor, which is not supported`);
      const { dims, tensor_type: type, tensor_content: content } = value.tensor;
      const dtype = TYPES[type];
      if (!dtype) throw new CheckpointError(`${source}: parameter '${value.tag}' has unsupported type '${type}'`);
      const numel = dims.reduce((a, b) => a * b, 1);
      if (content.length !== numel * DTYPE_BYTES[dtype]) {
        throw new CheckpointError(
          `${source}: parameter '${value.tag}' [${dims.join(', ')}] ${type} needs ${numel * DTYPE_BYTES[dtype]} bytes, has ${content.length}`,
        );
      }
      const key = mindsporeToTorchName(value.tag);
      out[key] = fromBytes(content, dims, dtype, 'cpu');
      if (key.endsWith('.running_mean')) {
        out[key.replace(/running_mean$/, 'num_batches_tracked')] = zeros([], { dtype: 'int64', device: 'cpu' });
      }
    }
  } catch (err) {
    for (const t of Object.values(out)) t.dispose();
    throw err;
  }
  return out;
}
