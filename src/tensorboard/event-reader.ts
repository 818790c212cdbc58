// Reading a run's event files back: the events of every file of a run folder, in file-name order
// (the writer's start time), with TensorBoard's rule for resumed runs applied (a SessionLog START
// at step s drops what came before with step >= s), and the scalar curves they hold.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRecords } from './records';
import { EventProto, SESSION_START, type EventMessage } from './schema';
import { readRegularFile } from '../io/files';

export interface ScalarPoint {
  step: number;
  value: number;
  wallTime: number;
}

export interface RunEvents {
  files: string[];
  events: EventMessage[];
  /** Tag -> points in the order written, orphans of a resumed run dropped. */
  scalars: Map<string, ScalarPoint[]>;
  /** Bytes at the end of the newest file not yet a whole record (a run being written or killed). */
  trailingBytes: number;
}

const EVENT_FILE = /^events\.out\.tfevents\./;

function stepOf(e: EventMessage): number {
  const s = e.step;
  return s === undefined ? 0 : typeof s === 'number' ? s : s.toNumber();
}

/** The event files of a run folder (not its subfolders), oldest first. */
export function eventFiles(runDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(runDir);
  } catch (err) {
    throw new Error(`cannot read the TensorBoard run folder ${runDir}: ${(err as Error).message}`);
  }
  return names.filter((n) => EVENT_FILE.test(n)).sort().map((n) => path.join(runDir, n));
}

export function readEventFile(file: string): { events: EventMessage[]; trailingBytes: number } {
  const { records, trailingBytes } = readRecords(readRegularFile(file, 'TensorBoard event file'), file);
  const events = records.map((r, i) => {
    try {
      return EventProto.toObject(EventProto.decode(r), { longs: Number, defaults: false }) as EventMessage;
    } catch (err) {
      throw new Error(`${file}: record ${i} is not a TensorBoard Event: ${(err as Error).message}`);
    }
  });
  return { events, trailingBytes };
}

export function readRun(runDir: string): RunEvents {
  const files = eventFiles(runDir);
  if (files.length === 0) throw new Error(`no TensorBoard event files (events.out.tfevents.*) in ${runDir}`);
  const events: EventMessage[] = [];
  const scalars = new Map<string, ScalarPoint[]>();
  let trailingBytes = 0;
  for (const file of files) {
    const read = readEventFile(file);
    trailingBytes = read.trailingBytes;
    for (const e of read.events) {
      events.push(e);
      const step = stepOf(e);
      if (e.session_log?.status === SESSION_START) {
        for (const [tag, points] of scalars) scalars.set(tag, points.filter((p) => p.step < step));
      }
      for (const v of e.summary?.value ?? []) {
        if (typeof v.simple_value !== 'number') continue;
        if (!scalars.has(v.tag)) scalars.set(v.tag, []);
        scalars.get(v.tag)!.push({ step, value: v.simple_value, wallTime: e.wall_time });
      }
    }
  }
  return { files, events, scalars, trailingBytes };
}
