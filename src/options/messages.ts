// The server's message shape for a bad option: "<name> must be <what>, got <value>" (RangeError for
// a number out of range, TypeError for anything else). The library's other shape, "Expected <what>
// for <name> but received <value>", is errors.ts's; each option set keeps the one its users know.

/** A short, safe rendering of any value for an error message (no recursion into deep values). */
export function preview(value: unknown, max = 60): string {
  if (typeof value === 'string') return JSON.stringify(value.length > max ? `${value.slice(0, max)}...` : value);
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) {
    const items: string[] = [];
    let length = 1;
    for (const v of value) {
      const s = typeof v === 'object' && v !== null ? (Array.isArray(v) ? '[...]' : '{...}') : preview(v, 20);
      if (length + s.length > max) {
        items.push('...');
        break;
      }
      items.push(s);
      length += s.length + 1;
    }
    return `[${items.join(',')}]`;
  }
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

/** "maxBatch must be an integer from 1 to 65536, got 0" */
export function integerIn(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}${unit}, got ${preview(value)}`);
  }
  return value;
}

/** "maxQueueDelayMs must be a number from 0 to 2147483647 ms, got NaN" */
export function numberIn(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a number from ${min} to ${max}${unit}, got ${preview(value)}`);
  }
  return value;
}

/** "log must be 'off', 'terse' or 'json', got "loud"" */
export function oneOf<V extends string>(name: string, value: unknown, allowed: readonly V[]): V {
  if (!allowed.includes(value as V)) {
    const quoted = allowed.map((a) => `'${a}'`);
    throw new TypeError(`${name} must be ${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}, got ${preview(value)}`);
  }
  return value as V;
}
