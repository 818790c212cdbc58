// A restricted pickle reader: it understands the opcodes that torch.save uses for state dicts and
// accepts only the globals the caller allows. Nothing is ever executed: a global is a name looked
// up in a table, and any other name is an error that names it.
import { PickleError } from '../error-classes';
export { PickleError };

/** What a GLOBAL / STACK_GLOBAL may resolve to: a callable (REDUCE / NEWOBJ) or a marker value. */
export type PickleGlobal = ((...args: unknown[]) => unknown) | { readonly marker: string };

export interface UnpickleOptions {
  /** `module.name` -> what it stands for; anything absent is refused. */
  globals: Record<string, PickleGlobal>;
  /** BINPERSID: turns a persistent id into an object (torch.save: storages). */
  persistentLoad?: (pid: unknown) => unknown;
  /** Names the source in errors. */
  source?: string;
}

/** A Python tuple, kept apart from lists so callers can tell them apart. */
export class PyTuple extends Array<unknown> {}

/** The object an OrderedDict / dict REDUCE or EMPTY_DICT makes: insertion-ordered. */
export type PyDict = Map<unknown, unknown>;

const MARK = Symbol('mark');

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const source = options.source ?? 'pickle';
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const fail = (message: string): never => {
    throw new PickleError(`${source}: ${message} (at byte ${pos})`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail('truncated pickle');
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const utf8 = (n: number) => Buffer.from(take(n)).toString('utf8');
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line');
    const text = Buffer.from(bytes.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    return text;
  };
  const pop = () => (stack.length === 0 ? fail('stack underflow') : stack.pop());
  const top = () => (stack.length === 0 ? fail('stack underflow') : stack[stack.length - 1]);
  const popMark = (): unknown[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail('MARK expected');
    const items = stack.splice(at + 1);
    stack.pop();
    return items;
  };
  const resolve = (module: string, name: string): PickleGlobal => {
    const key = `${module}.${name}`;
    const found = Object.prototype.hasOwnProperty.call(options.globals, key) ? options.globals[key] : undefined;
    if (!found) fail(`refusing to load global '${key}': only state-dict content (tensors, dicts, numbers, strings) is allowed`);
    return found!;
  };
  const call = (callable: unknown, args: unknown): unknown => {
    if (typeof callable !== 'function') fail('REDUCE on something that is not an allowed callable');
    if (!Array.isArray(args)) fail('REDUCE arguments are not a tuple');
    return (callable as (...a: unknown[]) => unknown)(...(args as unknown[]));
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    if (items.length % 2 !== 0) fail('odd number of dict items');
    for (let i = 0; i < items.length; i += 2) (target as PyDict).set(items[i], items[i + 1]);
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol');
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail('malformed pickle: stack not empty at STOP');
        return stack[0];
      case 0x63: {
        // GLOBAL
        const module = line();
        stack.push(resolve(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple());
        break;
      case 0x74: // TUPLE
        stack.push(PyTuple.from(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(PyTuple.of(pop()));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(PyTuple.of(pop(), b));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(PyTuple.of(pop(), b, c));
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const d: PyDict = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`memo key ${key} not found`);
        stack.push(memo.get(key));
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longFromBytes(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(longFromBytes(take(u32())));
        break;
      case 0x47: {
        // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x54: // BINSTRING
        stack.push(Buffer.from(take(i32())).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(Buffer.from(take(u8())).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        stack.push(Uint8Array.from(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Uint8Array.from(take(u8())));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('persistent ids are not allowed here');
        stack.push(options.persistentLoad!(pid));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: state for the object below it. Only dicts take one here (OrderedDict's
        // `_metadata` attribute from state_dict()), and it carries no tensor data: ignored.
        pop();
        if (!(top() instanceof Map)) fail('BUILD is only allowed on dicts');
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        const list = top();
        if (!Array.isArray(list) || list instanceof PyTuple) fail('APPEND on something that is not a list');
        (list as unknown[]).push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list) || list instanceof PyTuple) fail('APPENDS on something that is not a list');
        (list as unknown[]).push(...items);
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
