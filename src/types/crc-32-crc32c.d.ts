// crc-32 ships types for its CRC32 entry point only; its CRC32C one has the same API.
declare module 'crc-32/crc32c' {
  /** CRC32C of the bytes, as a signed 32-bit integer (>>> 0 for the unsigned value). */
  export function buf(data: Uint8Array, seed?: number): number;
  export function str(data: string, seed?: number): number;
}
