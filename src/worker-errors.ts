// Errors across the worker boundary. Structured cloning keeps only a built-in error's message
// (a TrainingError would arrive as a plain Error, a StateDictError without its key lists), so a
// worker posts serializeError(err) and the thread that waits rebuilds it with deserializeError:
// the same class, name, message, stack and fields. The library's classes are error-classes.ts's
// exports, all of them: a class defined there crosses threads as itself, with no list to keep.
import * as libraryErrors from './error-classes';

export interface SerializedError {
  name: string;
  /** The class to rebuild: one of KNOWN's keys, or 'Error'. */
  className: string;
  message: string;
  stack?: string;
  /** The error's own fields that survive structured cloning (StateDictError's missing, a code...). */
  fields: Record<string, unknown>;
}

type ErrorClass = new (...args: never[]) => Error;

const KNOWN: Record<string, ErrorClass> = Object.assign(Object.create(null) as Record<string, ErrorClass>, { Error, TypeError, RangeError, SyntaxError }, libraryErrors);

/** The classes an error is rebuilt as across threads (the built-in ones and the library's). */
export function crossThreadErrorClasses(): ErrorClass[] {
  return Object.values(KNOWN);
}

function classNameOf(err: Error): string {
  for (let proto = Object.getPrototypeOf(err); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const name = proto.constructor?.name as string | undefined;
    if (name && Object.hasOwn(KNOWN, name) && KNOWN[name] === proto.constructor) return name;
  }
  return 'Error';
}

export function serializeError(thrown: unknown): SerializedError {
  const err = thrown instanceof Error ? thrown : new Error(String(thrown));
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(err)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    try {
      fields[key] = structuredClone((err as unknown as Record<string, unknown>)[key]);
    } catch {
      // a field that cannot cross (a function, a handle) stays behind
    }
  }
  return { name: err.name, className: classNameOf(err), message: err.message, stack: err.stack, fields };
}

export function deserializeError(s: SerializedError): Error {
  const cls = Object.hasOwn(KNOWN, s.className) ? KNOWN[s.className] : Error;
  // A real Error object with the class's prototype, without running its constructor (whose
  // arguments differ from class to class).
  const err = Reflect.construct(Error, [s.message], cls) as Error;
  if (err.name !== s.name) err.name = s.name;
  if (s.stack !== undefined) err.stack = s.stack;
  Object.assign(err, s.fields);
  return err;
}
