// Declarations more than one command shares, in errors.ts's message style: a device name (its form:
// whether CUDA is there is known only once libtorch is loaded) and a thread count.
import { checkDeviceName, checkThreads, type Device } from '../device-checks';
import { custom, numeric, type FlagSpec, type Spec } from './declare';

/** The spec's flag with `value` as its placeholder unless it names one (false stays false). */
function placeholder(flag: Spec<unknown>['flag'], value: string): false | FlagSpec {
  if (flag === false) return false;
  return { value, ...(typeof flag === 'string' ? { name: flag } : flag) };
}

/** 'cpu', 'cuda' or 'cuda:N'. */
export function device<const S extends Spec<Device>>(spec: S) {
  return custom((value: unknown, name: string) => checkDeviceName(name, value), { help: "'cpu', 'cuda' or 'cuda:N'", ...spec, flag: placeholder(spec.flag, '<device>') });
}

/** libtorch intra-op threads, from 1 to MAX_THREADS. */
export function threads<const S extends Spec<number>>(spec: S) {
  const flag = placeholder(spec.flag, '<n>');
  return custom((value: unknown, name: string) => checkThreads(name, value), { ...spec, flag: flag === false ? false : { parse: numeric, ...flag } });
}
