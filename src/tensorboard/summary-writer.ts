// SummaryWriter: TensorBoard event files written from Node, in the spirit of
// torch.utils.tensorboard.SummaryWriter. One file per writer in the run's folder, named as
// TensorBoard expects (events.out.tfevents.<seconds>.<host>.<pid>.<n>); records are kept in
// memory and written whole, at least every `flushSeconds`, so a running job shows up live and a
// killed one leaves a file TensorBoard reads up to its last flush.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { frameRecord } from './records';
import { makeFolder } from '../io/files';
import {
  DATA_CLASS_TENSOR,
  DATASET_VALIDATION,
  DT_STRING,
  EventProto,
  HPARAM_TYPE,
  HParamsPluginDataProto,
  SESSION_START,
  SESSION_STATUS,
} from './schema';

export interface SummaryWriterOptions {
  /** Longest time (s) a record waits in memory before it is written; default 2. */
  flushSeconds?: number;
  /** Continuing a run from this step (a resumed training): TensorBoard drops what earlier files
   * of the run hold from this step on, so the curve goes on without steps going backwards. */
  purgeStep?: number;
}

export type HparamValue = number | string | boolean;
export type SessionStatus = 'success' | 'failure' | 'running';

let writersInProcess = 0;

export class SummaryWriter {
  readonly logDir: string;
  /** The event file this writer appends to. */
  readonly file: string;
  readonly #flushMs: number;
  #fd: number | null;
  #pending: Buffer[] = [];
  #lastFlush = Date.now();
  readonly #timer: NodeJS.Timeout;

  constructor(logDir: string, options: SummaryWriterOptions = {}) {
    const flushSeconds = options.flushSeconds ?? 2;
    if (!(flushSeconds > 0)) throw new RangeError(`flushSeconds must be more than 0, got ${flushSeconds}`);
    this.#flushMs = flushSeconds * 1000;
    this.logDir = path.resolve(logDir);
    makeFolder(this.logDir, 'TensorBoard log folder');
    // (the thread too: trainings on two worker threads of one process may start in the same second)
    const name = `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${os.hostname()}.${process.pid}.${threadId}-${writersInProcess++}`;
    this.file = path.join(this.logDir, name);
    try {
      this.#fd = fs.openSync(this.file, 'a');
    } catch (err) {
      throw new Error(`cannot write the TensorBoard event file ${this.file}: ${(err as Error).message}`);
    }
    this.#event({ file_version: 'brain.Event:2' });
    if (options.purgeStep !== undefined) this.#event({ step: options.purgeStep, session_log: { status: SESSION_START } });
    this.flush();
    // idle periods (a long evaluation) still reach the disk; the timer never keeps a process alive
    this.#timer = setInterval(() => this.flush(), this.#flushMs).unref();
  }

  /** A point of a scalar curve (TensorBoard's Scalars tab). */
  addScalar(tag: string, value: number, step: number, wallTime?: number): void {
    // simple_value, as PyTorch writes it (TensorBoard turns it into a scalar tensor when it reads)
    this.#summary(step, wallTime, { tag, simple_value: value });
  }

  /** An encoded PNG (TensorBoard's Images tab); its size and colour type come from its header. */
  addImage(tag: string, png: Uint8Array, step: number, wallTime?: number): void {
    const { width, height, colorspace } = pngHeader(png, tag);
    this.#summary(step, wallTime, { tag, image: { width, height, colorspace, encoded_image_string: png } });
  }

  /** Markdown text (TensorBoard's Text tab). */
  addText(tag: string, text: string, step: number, wallTime?: number): void {
    this.#summary(step, wallTime, {
      tag,
      metadata: { plugin_data: { plugin_name: 'text' }, data_class: DATA_CLASS_TENSOR },
      tensor: { dtype: DT_STRING, tensor_shape: { dim: [{ size: 1 }] }, string_val: [Buffer.from(text)] },
    });
  }

  /**
   * This run as one session of the HParams tab: its hyperparameters, and the scalar tags that are
   * its metrics (their last values are shown against the hyperparameters). Call once at the start;
   * `endSession` marks it finished.
   */
  addHparams(hparams: Record<string, HparamValue>, metricTags: string[]): void {
    const values: Record<string, object> = {};
    const infos = [];
    for (const [name, v] of Object.entries(hparams)) {
      if (typeof v === 'number') values[name] = { number_value: v };
      else if (typeof v === 'boolean') values[name] = { bool_value: v };
      else if (typeof v === 'string') values[name] = { string_value: v };
      else throw new TypeError(`hparam '${name}' must be a number, string or boolean, got ${typeof v}`);
      infos.push({ name, type: typeof v === 'number' ? HPARAM_TYPE.float64 : typeof v === 'boolean' ? HPARAM_TYPE.bool : HPARAM_TYPE.string });
    }
    const now = Date.now() / 1000;
    const experiment = { time_created_secs: now, hparam_infos: infos, metric_infos: metricTags.map((tag) => ({ name: { group: '', tag }, dataset_type: DATASET_VALIDATION })) };
    this.#hparams('_hparams_/experiment', { version: 0, experiment });
    this.#hparams('_hparams_/session_start_info', { version: 0, session_start_info: { hparams: values, start_time_secs: now } });
  }

  /** Marks the HParams session finished (or failed). */
  endSession(status: SessionStatus): void {
    this.#hparams('_hparams_/session_end_info', { version: 0, session_end_info: { status: SESSION_STATUS[status], end_time_secs: Date.now() / 1000 } });
  }

  /** Writes what is held in memory. */
  flush(): void {
    if (this.#fd === null || this.#pending.length === 0) return;
    const bytes = Buffer.concat(this.#pending);
    this.#pending = [];
    fs.writeSync(this.#fd, bytes);
    this.#lastFlush = Date.now();
  }

  /** Flushes and closes the file; the writer takes nothing more. */
  close(): void {
    if (this.#fd === null) return;
    clearInterval(this.#timer);
    this.flush();
    fs.closeSync(this.#fd);
    this.#fd = null;
  }

  get closed(): boolean {
    return this.#fd === null;
  }

  #hparams(tag: string, data: object): void {
    const content = HParamsPluginDataProto.encode(HParamsPluginDataProto.fromObject(data)).finish();
    this.#summary(0, undefined, { tag, metadata: { plugin_data: { plugin_name: 'hparams', content } } });
  }

  #summary(step: number, wallTime: number | undefined, value: object): void {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`step must be an integer of 0 or more, got ${step}`);
    this.#event({ step, wall_time: wallTime, summary: { value: [value] } });
  }

  #event(fields: { step?: number; wall_time?: number; [k: string]: unknown }): void {
    if (this.#fd === null) throw new Error(`this SummaryWriter (${this.file}) is closed`);
    const message = EventProto.fromObject({ ...fields, wall_time: fields.wall_time ?? Date.now() / 1000 });
    this.#pending.push(frameRecord(EventProto.encode(message).finish()));
    // a training step is synchronous: timers do not run during an epoch, so check here too
    if (Date.now() - this.#lastFlush >= this.#flushMs) this.flush();
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// PNG colour type -> Summary.Image colorspace (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA)
const COLORSPACE: Record<number, number> = { 0: 1, 4: 2, 2: 3, 3: 3, 6: 4 };

function pngHeader(png: Uint8Array, tag: string): { width: number; height: number; colorspace: number } {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (b.length < 33 || !b.subarray(0, 8).equals(PNG_SIGNATURE) || b.toString('latin1', 12, 16) !== 'IHDR') {
    throw new TypeError(`addImage('${tag}'): expected an encoded PNG (sharp(...).png().toBuffer() makes one)`);
  }
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), colorspace: COLORSPACE[b[25]] ?? 3 };
}
