// One message shape for bad arguments: what was expected, for which name, and what came.

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}] of type array`;
  if (typeof value === 'string') return `'${value}' of type string`;
  if (typeof value === 'object') return `an object of type ${value.constructor?.name ?? 'object'}`;
  return `${String(value)} of type ${typeof value}`;
}

/** "Expected positive integer for kernelSize but received -3 of type number" */
export function invalidArgument(expected: string, name: string, value: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describe(value)}`);
}

/** A safe integer (beyond 2^53 integers are no longer exact: 9007199254740993 reads as ...992). */
export function isInteger(value: unknown, min = -Infinity): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

export function checkInteger(name: string, value: unknown, min = -Infinity, max = Number.MAX_SAFE_INTEGER): number {
  if (!isInteger(value, min) || value > max) {
    const what =
      max < Number.MAX_SAFE_INTEGER ? `integer from ${min} to ${max}` : min === 0 ? 'non-negative integer' : min === 1 ? 'positive integer' : 'integer';
    throw invalidArgument(what, name, value);
  }
  return value;
}

export function checkNumber(name: string, value: unknown, min = -Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw invalidArgument(min === -Infinity ? 'number' : `number >= ${min}`, name, value);
  }
  return value;
}

/** The largest finite float32: hyperparameters go to float32 kernels, which cannot take more. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** A finite number from min to max (by default what float32 holds), as hyperparameters must be. */
export function checkFiniteNumber(name: string, value: unknown, min: number, max = FLOAT32_MAX): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidArgument(`finite number from ${min} to ${max === FLOAT32_MAX ? '3.4e38 (float32)' : max}`, name, value);
  }
  return value;
}

/** A non-empty path string. */
export function checkPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalidArgument('non-empty path', name, value);
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidArgument('boolean', name, value);
  return value;
}

/** An int or [int, int] becomes [int, int]. */
export function checkPair(name: string, value: unknown, min: number): [number, number] {
  if (isInteger(value, min)) return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => isInteger(v, min))) {
    return [value[0], value[1]];
  }
  throw invalidArgument(`an integer >= ${min} or a pair of them`, name, value);
}

export function checkShape(name: string, value: unknown): number[] {
  if (!Array.isArray(value) || !value.every((d) => isInteger(d, 0))) {
    throw invalidArgument('an array of non-negative integers', name, value);
  }
  return value;
}

/** One of `allowed` (the fallback when undefined); the error lists them: "'a', 'b' or 'c'". */
export function checkChoice<V extends string>(name: string, value: V | undefined, allowed: readonly V[], fallback: V): V {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) {
    const quoted = allowed.map((a) => `'${a}'`);
    throw invalidArgument(`${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`, name, value);
  }
  return value;
}
