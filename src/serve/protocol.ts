// The Open Inference Protocol (KServe v2, as Triton and KServe speak it) for an image classifier:
// model metadata, the infer request (JSON tensors, or the binary tensor data extension: a JSON
// header of Inference-Header-Content-Length bytes followed by raw tensor bytes) and the response,
// with the classification extension. Everything a request gets wrong is a 400 naming the field.
import { concatChw, decodeImages, imageToChw, MAX_IMAGE_PIXELS } from '../inference/preprocess';
import { FLOAT32_MAX } from '../errors';
import { topClasses } from '../inference/ranking';
import { HttpError } from './http-error';
import type { BatchPart, ModelInfo } from './model-messages';
import { preview } from './options';
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
    parameters: { arch: info.arch, image_size: s, ...(info.resizeSize !== undefined ? { resize_size: info.resizeSize } : {}), class_names: info.classNames, device: info.device },
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
/** A field the client sent (its own property: never one of Object.prototype's members). */
const own = (o: Record<string, unknown>, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);
const INPUT_NAMES = new Map<string, InputName>((Object.keys(INPUTS) as InputName[]).map((n) => [n, n]));
const OUTPUT_NAMES = new Set<string>(OUTPUTS);
/** Most outputs one request may ask for (each is a copy of the answer). */
export const MAX_OUTPUTS = 16;

function bad(message: string): HttpError {
  return new HttpError(400, message);
}

/** The "parameters" object of `o` (none: empty). */
function parametersOf(o: Record<string, unknown>, field: string): Record<string, unknown> {
  const p = own(o, 'parameters');
  if (p === undefined) return {};
  if (!isObject(p)) throw bad(`${field ? `${field}.` : ''}parameters must be an object, got ${preview(p)}`);
  return p;
}

/** Splits a body into its JSON header and the binary data after it. */
export function splitBody(body: Buffer, headerLength: string | undefined): { json: unknown; binary: Buffer } {
  let jsonBytes: Buffer = body;
  let binary: Buffer = Buffer.alloc(0);
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (headerLength.trim() === '' || !Number.isInteger(n) || n < 0 || n > body.length) {
      throw bad(`Inference-Header-Content-Length is ${headerLength.slice(0, 40)}, but the body has ${body.length} bytes`);
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

/**
 * The values of JSON `data`, flat or nested (row-major), without recursion: at most `rank` levels
 * deep (the shape's) and `expected` values; `what` names them in errors.
 */
function flatten(data: unknown, field: string, rank: number, expected: number, what: () => string): unknown[] {
  if (!Array.isArray(data)) throw bad(`${field} must be an array`);
  const out: unknown[] = [];
  const stack: { array: unknown[]; next: number }[] = [{ array: data, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === top.array.length) {
      stack.pop();
      continue;
    }
    const v = top.array[top.next++];
    if (Array.isArray(v)) {
      if (stack.length >= rank) throw bad(`${field} is nested deeper than the ${rank} dimensions of its shape`);
      stack.push({ array: v, next: 0 });
    } else {
      if (out.length === expected) throw bad(`${field} holds more than the ${what()}`);
      out.push(v);
    }
  }
  return out;
}

function checkShape(shape: unknown, field: string): number[] {
  if (!Array.isArray(shape) || shape.length > 8 || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw bad(`${field} must be an array of non-negative integers (at most 8), got ${preview(shape)}`);
  }
  return shape as number[];
}

/** What a request's header says it sends: images, values, and the bytes of its binary data. */
interface Declared {
  count: number;
  /** Values in `data` (elements, for BYTES). */
  values: number;
  /** Bytes of binary data (null for BYTES: lengths vary). */
  bytes: number | null;
}

/**
 * Checks the input's shape against the model and the server's limits, from the header alone:
 * nothing is read nor decoded before the image count, each image's size and the data's size are
 * known to be acceptable (413 for more images than a batch, or an image over the pixel limit).
 */
function declared(name: InputName, shape: number[], info: ModelInfo, maxBatch: number): Declared {
  const s = info.imageSize;
  const field = `inputs[0].shape`;
  let count: number;
  let perImage: number;
  if (name === 'input') {
    if (shape.length !== 4 || shape[1] !== 3 || shape[2] !== s || shape[3] !== s) throw bad(`${field} must be [N, 3, ${s}, ${s}] for 'input', got ${preview(shape)}`);
    count = shape[0];
    perImage = 3 * s * s;
  } else if (name === 'pixels') {
    if (shape.length !== 4 || shape[3] !== 3 || shape[1] < 1 || shape[2] < 1) throw bad(`${field} must be [N, H, W, 3] for 'pixels', got ${preview(shape)}`);
    count = shape[0];
    const [, h, w] = shape;
    if (h * w > MAX_IMAGE_PIXELS) {
      throw new HttpError(413, `'pixels' of shape ${preview(shape)}: ${h} x ${w} pixels is more than the ${MAX_IMAGE_PIXELS.toLocaleString('en-US')}-pixel limit`);
    }
    perImage = h * w * 3;
  } else {
    if (shape.length < 1 || shape.slice(1).some((d) => d !== 1)) throw bad(`${field} must be [N] (or [N, 1]) for 'images', got ${preview(shape)}`);
    count = shape[0];
    perImage = 1;
  }
  if (count > maxBatch) throw new HttpError(413, `'${name}' of shape ${preview(shape)}: ${count} images in one request is more than maxBatch ${maxBatch}: split it`);
  if (count === 0) throw bad(`inputs[0] holds no image: '${name}' of shape ${preview(shape)}`);
  const values = count * perImage;
  return { count, values, bytes: name === 'input' ? values * 4 : name === 'pixels' ? values : null };
}

/** Reads the request (JSON already split from its binary part) into batch parts at the model's
 * size. `maxBatch`: most images one request may hold (more is 413, found before decoding). */
export async function parseInferRequest(json: unknown, binary: Buffer, info: ModelInfo, { maxBatch = Infinity }: { maxBatch?: number } = {}): Promise<ParsedInferRequest> {
  if (!isObject(json)) throw bad('the request must be a JSON object with "inputs"');
  const id = own(json, 'id');
  if (id !== undefined && typeof id !== 'string') throw bad('"id" must be a string');
  const inputs = own(json, 'inputs');
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    throw bad(`"inputs" must hold exactly one input: one of ${Object.entries(INPUTS).map(([n, d]) => `'${n}' (${d.datatype})`).join(', ')}`);
  }
  const input = inputs[0] as unknown;
  if (!isObject(input)) throw bad('inputs[0] must be an object');
  const given = own(input, 'name');
  const name = typeof given === 'string' ? INPUT_NAMES.get(given) : undefined;
  if (name === undefined) throw bad(`inputs[0].name must be one of ${[...INPUT_NAMES.keys()].join(', ')}, got ${preview(given)}`);
  const want = INPUTS[name].datatype;
  const datatype = own(input, 'datatype');
  if (datatype !== want) throw bad(`inputs[0].datatype must be ${want} for '${name}', got ${preview(datatype)}`);
  const shape = checkShape(own(input, 'shape'), 'inputs[0].shape');
  const size = declared(name, shape, info, maxBatch);
  const outputs = readOutputs(json, info);
  const binarySize = own(parametersOf(input, 'inputs[0]'), 'binary_data_size');
  const data = own(input, 'data');
  let raw: Buffer | null = null;
  if (binarySize !== undefined) {
    if (!Number.isSafeInteger(binarySize) || (binarySize as number) < 0) throw bad(`inputs[0].parameters.binary_data_size must be a non-negative integer, got ${preview(binarySize)}`);
    if (size.bytes !== null && binarySize !== size.bytes) {
      throw bad(`'${name}' of shape ${preview(shape)} needs ${size.bytes} bytes of ${want}, but inputs[0].parameters.binary_data_size is ${binarySize}`);
    }
    if ((binarySize as number) > binary.length) throw bad(`inputs[0].parameters.binary_data_size is ${binarySize} but only ${binary.length} bytes follow the JSON header`);
    raw = binary.subarray(0, binarySize as number);
  } else if (data === undefined) {
    throw bad('inputs[0] has neither "data" nor parameters.binary_data_size');
  }
  const parts = await readInput(name, shape, size, raw, data, info);
  return { id: id as string | undefined, parts, count: size.count, outputs };
}

async function readInput(name: InputName, shape: number[], size: Declared, raw: Buffer | null, data: unknown, info: ModelInfo): Promise<BatchPart[]> {
  const s = info.imageSize;
  const n = size.values;
  const needs = () => `${n} values shape ${preview(shape)} needs`;
  if (name === 'input') {
    let values: Float32Array;
    if (raw) {
      values = new Float32Array(n);
      new Uint8Array(values.buffer).set(raw);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v - v !== 0) throw bad(`'input' (FP32): element ${i} of the binary data (image ${Math.floor(i / (3 * s * s))}) is ${v}: inputs must be finite numbers`);
      }
    } else {
      const flat = flatten(data, 'inputs[0].data', shape.length, n, needs);
      if (flat.length !== n) throw bad(`inputs[0].data holds ${flat.length} values but shape ${preview(shape)} needs ${n}`);
      values = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`'input' (FP32): inputs[0].data[${i}] is ${preview(v)}, not a finite number`);
        if (!Number.isFinite(Math.fround(v))) throw bad(`'input' (FP32): inputs[0].data[${i}] is ${v}, which overflows FP32 (largest finite ${FLOAT32_MAX})`);
        values[i] = v;
      }
    }
    return [{ kind: 'f32', count: size.count, data: values }];
  }
  if (name === 'pixels') {
    const [count, h, w] = shape;
    let bytes: Uint8Array;
    if (raw) {
      bytes = raw;
    } else {
      const flat = flatten(data, 'inputs[0].data', shape.length, n, needs);
      if (flat.length !== n) throw bad(`inputs[0].data holds ${flat.length} values but shape ${preview(shape)} needs ${n}`);
      bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = flat[i];
        if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 255) throw bad(`'pixels' (UINT8): inputs[0].data[${i}] is ${preview(v)}, not a UINT8 value (0 to 255)`);
        bytes[i] = v as number;
      }
    }
    const images = await Promise.all(Array.from({ length: count }, (_, i) => imageToChw({ data: bytes.subarray(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h, channels: 3 }, s, info.resizeSize)));
    return [chwPart(images)];
  }
  // images: BYTES, one encoded image per element
  const count = size.count;
  const encoded: Buffer[] = raw ? splitBytes(raw, count) : jsonBytes(data, shape, count);
  return [chwPart(await decodeForRequest(encoded, s, (i) => `inputs[0] element ${i}`, info.resizeSize))];
}

/** decodeImages, with its errors as the request's: images over a pixel limit are too large (413),
 * not malformed (400). */
export async function decodeForRequest(files: Uint8Array[], size: number, label: (i: number) => string, resizeSize?: number): Promise<Uint8Array[]> {
  try {
    return await decodeImages(files, size, label, resizeSize);
  } catch (err) {
    const message = (err as Error).message;
    throw new HttpError(/pixel limit/.test(message) ? 413 : 400, message);
  }
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
function jsonBytes(data: unknown, shape: number[], count: number): Buffer[] {
  const flat = flatten(data, 'inputs[0].data', shape.length, count, () => `${count} elements the shape says`);
  if (flat.length !== count) throw bad(`inputs[0].data holds ${flat.length} elements but the shape says ${count}`);
  return flat.map((v, i) => {
    if (typeof v !== 'string') throw bad(`inputs[0].data[${i}] must be a base64 string of an encoded image`);
    return Buffer.from(v, 'base64');
  });
}

function readOutputs(json: Record<string, unknown>, info: ModelInfo): RequestedOutput[] {
  const binaryDefault = own(parametersOf(json, ''), 'binary_data_output') ?? false;
  if (typeof binaryDefault !== 'boolean') throw bad(`parameters.binary_data_output must be true or false, got ${preview(binaryDefault)}`);
  const outputs = own(json, 'outputs');
  if (outputs === undefined) return OUTPUTS.map((name) => ({ name, binary: binaryDefault, classification: 0 }));
  if (!Array.isArray(outputs) || outputs.length === 0) throw bad('"outputs" must be a non-empty array when given');
  if (outputs.length > MAX_OUTPUTS) throw bad(`"outputs" asks for ${outputs.length} outputs; at most ${MAX_OUTPUTS}`);
  return outputs.map((o: unknown, i: number) => {
    if (!isObject(o)) throw bad(`outputs[${i}] must be an object`);
    const name = own(o, 'name');
    if (typeof name !== 'string' || !OUTPUT_NAMES.has(name)) throw bad(`outputs[${i}].name must be one of ${OUTPUTS.join(', ')}, got ${preview(name)}`);
    const p = parametersOf(o, `outputs[${i}]`);
    const k = own(p, 'classification') ?? 0;
    if (!Number.isInteger(k) || (k as number) < 0 || (k as number) > info.classNames.length) {
      throw bad(`outputs[${i}].parameters.classification must be an integer from 1 to ${info.classNames.length}, got ${preview(k)}`);
    }
    const binary = own(p, 'binary_data');
    if (binary !== undefined && typeof binary !== 'boolean') throw bad(`outputs[${i}].parameters.binary_data must be true or false`);
    return { name: name as OutputName, binary: (binary as boolean | undefined) ?? binaryDefault, classification: k as number };
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
