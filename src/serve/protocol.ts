// The Open Inference Protocol (KServe v2, as Triton and KServe speak it) for an image classifier:
// model metadata, the infer request (JSON tensors, or the binary tensor data extension: a JSON
// header of Inference-Header-Content-Length bytes followed by raw tensor bytes) and the response,
// with the classification extension. Everything a request gets wrong is a 400 naming the field.
import { concatChw, imageToChw } from '../inference/preprocess';
import { topClasses } from '../inference/ranking';
import { HttpError } from './http-error';
import type { BatchPart, ModelInfo } from './model-messages';
import type { InferenceResult } from './served-model';

/** The inputs a model takes; a request sends exactly one of them. */
export const INPUTS = {
  images: { datatype: 'BYTES', describe: 'encoded images (JPEG, PNG, WebP, ...), [N]' },
  pixels: { datatype: 'UINT8', describe: 'raw RGB pixels, [N, H, W, 3], resized and normalised by the server' },
  input: { datatype: 'FP32', describe: 'normalised images, [N, 3, S, S]' },
} as const;
type InputName = keyof typeof INPUTS;

export const OUTPUTS = ['probabilities', 'logits'] as const;
type OutputName = (typeof OUTPUTS)[number];

export function modelMetadata(name: string, info: ModelInfo): Record<string, unknown> {
  const s = info.imageSize;
  const classes = info.classNames.length;
  return {
    name,
    versions: ['1'],
    platform: 'resnet-native_libtorch',
    inputs: [
      { name: 'images', datatype: 'BYTES', shape: [-1] },
      { name: 'pixels', datatype: 'UINT8', shape: [-1, -1, -1, 3] },
      { name: 'input', datatype: 'FP32', shape: [-1, 3, s, s] },
    ],
    outputs: OUTPUTS.map((o) => ({ name: o, datatype: 'FP32', shape: [-1, classes] })),
    parameters: { arch: info.arch, image_size: s, class_names: info.classNames, device: info.device },
  };
}

interface RequestedOutput {
  name: OutputName;
  binary: boolean;
  classification: number;
}

export interface ParsedInferRequest {
  id?: string;
  parts: BatchPart[];
  count: number;
  outputs: RequestedOutput[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(message: string): HttpError {
  return new HttpError(400, message);
}

/** Splits a body into its JSON header and the binary data after it. */
export function splitBody(body: Buffer, headerLength: string | undefined): { json: unknown; binary: Buffer } {
  let jsonBytes: Buffer = body;
  let binary: Buffer = Buffer.alloc(0);
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!Number.isInteger(n) || n < 0 || n > body.length) {
      throw bad(`Inference-Header-Content-Length is ${headerLength}, but the body has ${body.length} bytes`);
    }
    jsonBytes = body.subarray(0, n);
    binary = body.subarray(n);
  }
  try {
    return { json: JSON.parse(jsonBytes.toString('utf8')), binary };
  } catch (err) {
    throw bad(`the request is not valid JSON: ${(err as Error).message}`);
  }
}

function flatten(data: unknown, field: string): unknown[] {
  if (!Array.isArray(data)) throw bad(`${field} must be an array`);
  return data.flat(Infinity);
}

function checkShape(shape: unknown, field: string): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`${field} must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  return shape as number[];
}

/** Reads the request (JSON already split from its binary part) into batch parts at the model's size. */
export async function parseInferRequest(json: unknown, binary: Buffer, info: ModelInfo): Promise<ParsedInferRequest> {
  if (!isObject(json)) throw bad('the request must be a JSON object with "inputs"');
  const id = json.id;
  if (id !== undefined && typeof id !== 'string') throw bad('"id" must be a string');
  const inputs = json.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw bad(`"inputs" must hold exactly one input: one of ${Object.entries(INPUTS).map(([n, d]) => `'${n}' (${d.datatype})`).join(', ')}`);
  }
  const input = inputs[0] as unknown;
  if (!isObject(input)) throw bad('inputs[0] must be an object');
  const name = input.name;
  if (typeof name !== 'string' || !(name in INPUTS)) throw bad(`inputs[0].name must be one of ${Object.keys(INPUTS).join(', ')}, got ${JSON.stringify(name)}`);
  const want = INPUTS[name as InputName].datatype;
  if (input.datatype !== want) throw bad(`inputs[0].datatype must be ${want} for '${name}', got ${JSON.stringify(input.datatype)}`);
  const shape = checkShape(input.shape, 'inputs[0].shape');
  const params = isObject(input.parameters) ? input.parameters : {};
  let raw: Buffer | null = null;
  if (params.binary_data_size !== undefined) {
    const size = params.binary_data_size;
    if (!Number.isInteger(size) || (size as number) < 0) throw bad(`inputs[0].parameters.binary_data_size must be a non-negative integer, got ${JSON.stringify(size)}`);
    if ((size as number) > binary.length) throw bad(`inputs[0].parameters.binary_data_size is ${size} but only ${binary.length} bytes follow the JSON header`);
    raw = binary.subarray(0, size as number);
  } else if (input.data === undefined) {
    throw bad('inputs[0] has neither "data" nor parameters.binary_data_size');
  }
  const parts = await readInput(name as InputName, shape, raw, input.data, info);
  const count = parts.reduce((n, p) => n + p.count, 0);
  if (count === 0) throw bad('inputs[0] holds no image');
  return { id, parts, count, outputs: readOutputs(json, info) };
}

async function readInput(name: InputName, shape: number[], raw: Buffer | null, data: unknown, info: ModelInfo): Promise<BatchPart[]> {
  const s = info.imageSize;
  if (name === 'input') {
    if (shape.length !== 4 || shape[1] !== 3 || shape[2] !== s || shape[3] !== s) throw bad(`inputs[0].shape must be [N, 3, ${s}, ${s}] for 'input', got ${JSON.stringify(shape)}`);
    const n = shape[0] * 3 * s * s;
    let values: Float32Array;
    if (raw) {
      if (raw.length !== n * 4) throw bad(`'input' of shape ${JSON.stringify(shape)} needs ${n * 4} bytes of FP32, got ${raw.length}`);
      values = new Float32Array(n);
      new Uint8Array(values.buffer).set(raw);
    } else {
      const flat = flatten(data, 'inputs[0].data');
      if (flat.length !== n) throw bad(`inputs[0].data holds ${flat.length} values but shape ${JSON.stringify(shape)} needs ${n}`);
      const wrong = flat.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
      if (wrong >= 0) throw bad(`inputs[0].data[${wrong}] is ${JSON.stringify(flat[wrong])}, not a finite number`);
      values = Float32Array.from(flat as number[]);
    }
    return [{ kind: 'f32', count: shape[0], data: values }];
  }
  if (name === 'pixels') {
    if (shape.length !== 4 || shape[3] !== 3 || shape[1] < 1 || shape[2] < 1) throw bad(`inputs[0].shape must be [N, H, W, 3] for 'pixels', got ${JSON.stringify(shape)}`);
    const [count, h, w] = shape;
    const n = count * h * w * 3;
    let bytes: Uint8Array;
    if (raw) {
      if (raw.length !== n) throw bad(`'pixels' of shape ${JSON.stringify(shape)} needs ${n} bytes, got ${raw.length}`);
      bytes = raw;
    } else {
      const flat = flatten(data, 'inputs[0].data');
      if (flat.length !== n) throw bad(`inputs[0].data holds ${flat.length} values but shape ${JSON.stringify(shape)} needs ${n}`);
      const wrong = flat.findIndex((v) => !Number.isInteger(v) || (v as number) < 0 || (v as number) > 255);
      if (wrong >= 0) throw bad(`inputs[0].data[${wrong}] is ${JSON.stringify(flat[wrong])}, not a UINT8 value (0 to 255)`);
      bytes = Uint8Array.from(flat as number[]);
    }
    const images = await Promise.all(Array.from({ length: count }, (_, i) => imageToChw({ data: bytes.subarray(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h, channels: 3 }, s)));
    return [chwPart(images)];
  }
  // images: BYTES, one encoded image per element
  if (shape.length < 1 || shape.slice(1).some((d) => d !== 1)) throw bad(`inputs[0].shape must be [N] (or [N, 1]) for 'images', got ${JSON.stringify(shape)}`);
  const count = shape[0];
  const encoded: Buffer[] = raw ? splitBytes(raw, count) : jsonBytes(data, count);
  const images = await Promise.all(
    encoded.map((img, i) =>
      imageToChw(img, s).catch((err: Error) => {
        // an image declaring more pixels than the limit is too large, not malformed
        throw new HttpError(/pixel limit/.test(err.message) ? 413 : 400, `inputs[0] element ${i}: ${err.message}`);
      }),
    ),
  );
  return [chwPart(images)];
}

function chwPart(images: Uint8Array[]): BatchPart {
  return { kind: 'chw8', count: images.length, data: concatChw(images) };
}

/** BYTES in the binary extension: each element is a 4-byte little-endian length and its bytes. */
function splitBytes(raw: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > raw.length) throw bad(`inputs[0] binary data ends before element ${i} of ${count}`);
    const length = raw.readUInt32LE(offset);
    if (offset + 4 + length > raw.length) throw bad(`inputs[0] element ${i} declares ${length} bytes but only ${raw.length - offset - 4} follow`);
    out.push(raw.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  if (offset !== raw.length) throw bad(`inputs[0] binary data has ${raw.length - offset} bytes after its ${count} elements`);
  return out;
}

/** BYTES in JSON: each element a base64 string of an encoded image. */
function jsonBytes(data: unknown, count: number): Buffer[] {
  const flat = flatten(data, 'inputs[0].data');
  if (flat.length !== count) throw bad(`inputs[0].data holds ${flat.length} elements but the shape says ${count}`);
  return flat.map((v, i) => {
    if (typeof v !== 'string') throw bad(`inputs[0].data[${i}] must be a base64 string of an encoded image`);
    return Buffer.from(v, 'base64');
  });
}

function readOutputs(json: Record<string, unknown>, info: ModelInfo): RequestedOutput[] {
  const requestParams = isObject(json.parameters) ? json.parameters : {};
  const binaryDefault = requestParams.binary_data_output === true;
  if (json.outputs === undefined) return OUTPUTS.map((name) => ({ name, binary: binaryDefault, classification: 0 }));
  if (!Array.isArray(json.outputs) || json.outputs.length === 0) throw bad('"outputs" must be a non-empty array when given');
  return json.outputs.map((o: unknown, i: number) => {
    if (!isObject(o)) throw bad(`outputs[${i}] must be an object`);
    if (typeof o.name !== 'string' || !(OUTPUTS as readonly string[]).includes(o.name)) throw bad(`outputs[${i}].name must be one of ${OUTPUTS.join(', ')}, got ${JSON.stringify(o.name)}`);
    const p = isObject(o.parameters) ? o.parameters : {};
    const k = p.classification ?? 0;
    if (!Number.isInteger(k) || (k as number) < 0 || (k as number) > info.classNames.length) {
      throw bad(`outputs[${i}].parameters.classification must be an integer from 1 to ${info.classNames.length}, got ${JSON.stringify(k)}`);
    }
    if (p.binary_data !== undefined && typeof p.binary_data !== 'boolean') throw bad(`outputs[${i}].parameters.binary_data must be true or false`);
    return { name: o.name as OutputName, binary: (p.binary_data as boolean | undefined) ?? binaryDefault, classification: k as number };
  });
}

/** The response body (and its JSON header length when binary outputs follow it). */
export function inferResponse(model: string, request: ParsedInferRequest, result: InferenceResult, info: ModelInfo): { body: Buffer; headerLength: number | null } {
  const n = request.count;
  const buffers: Buffer[] = [];
  const outputs = request.outputs.map((o) => {
    const values = o.name === 'logits' ? result.logits : result.probabilities;
    let tensor: { datatype: string; shape: number[]; values: Float32Array | string[] };
    if (o.classification > 0) {
      tensor = { datatype: 'BYTES', shape: [n, o.classification], values: classify(values, n, result.classes, o.classification, info.classNames) };
    } else {
      tensor = { datatype: 'FP32', shape: [n, result.classes], values };
    }
    const out: Record<string, unknown> = { name: o.name, datatype: tensor.datatype, shape: tensor.shape };
    if (o.binary) {
      const bytes = tensor.values instanceof Float32Array ? Buffer.from(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength) : encodeBytes(tensor.values);
      buffers.push(bytes);
      out.parameters = { binary_data_size: bytes.length };
    } else {
      out.data = tensor.values instanceof Float32Array ? Array.from(tensor.values) : tensor.values;
    }
    return out;
  });
  const header = Buffer.from(JSON.stringify({ model_name: model, model_version: '1', ...(request.id !== undefined ? { id: request.id } : {}), outputs }));
  return buffers.length === 0 ? { body: header, headerLength: null } : { body: Buffer.concat([header, ...buffers]), headerLength: header.length };
}

/** The classification extension: "score:index:label" for the top k of each row. */
function classify(values: Float32Array, n: number, classes: number, k: number, names: string[]): string[] {
  return Array.from({ length: n }, (_, i) => topClasses(values, i, classes, names, k).map(({ score, index, label }) => `${score}:${index}:${label}`)).flat();
}

function encodeBytes(values: string[]): Buffer {
  return Buffer.concat(
    values.flatMap((v) => {
      const b = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}
