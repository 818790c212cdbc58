// The job's rendezvous store (c10d's TCPStore, native/distributed.cc): binding layer, so that the
// join handshake (rendezvous.ts) is policy only.
import { native, type NativeStore, type NativeStoreOptions } from '../native';

export type Store = NativeStore;
export type StoreOptions = NativeStoreOptions;

/** Serves the store (isServer) or connects to it as a client, retrying until timeoutMs. */
export function openStore(options: StoreOptions): Store {
  return new native.Store(options);
}
