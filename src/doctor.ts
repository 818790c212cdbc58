// What `resnet-native doctor` reports: which libtorch this process runs on and what it can use.
import { hostAllocator, native, type HostAllocatorReport } from './native';

export interface DoctorReport {
  libtorchVersion: string;
  libtorchDir: string;
  loadedFrom: string;
  build: 'cpu' | 'cuda';
  cudaAvailable: boolean;
  cudaUnavailableReason: string | null;
  cudaDevices: string[];
  cudnnVersion: number | null;
  intraOpThreads: number;
  interOpThreads: number;
  /** Whether glibc's malloc thresholds were raised when the addon loaded, and why (not). */
  hostAllocator: HostAllocatorReport;
  /** Whether this build can train across processes (c10d with Gloo), and why not. */
  distributed: { available: boolean; reason: string | null; nccl: boolean; ncclReason: string | null };
  /** napiVersion: the Node-API module version the addon was built for ('experimental': its
   *  finalizers run inside garbage collection, see README Memory). */
  addon: { napiVersion: number | 'experimental'; nodeAbi: string; node: string; cxx11Abi: boolean };
}

const NAPI_VERSION_EXPERIMENTAL = 2147483647;

export function doctorReport(): DoctorReport {
  const info = native.buildInfo();
  return {
    libtorchVersion: info.torchVersion,
    libtorchDir: info.libtorchDir,
    loadedFrom: info.loadedFrom,
    build: info.cudaBuild || info.compiledWithCuda ? 'cuda' : 'cpu',
    cudaAvailable: info.cudaAvailable,
    cudaUnavailableReason: info.cudaAvailable ? null : info.cudaUnavailableReason,
    cudaDevices: info.cudaDevices,
    cudnnVersion: info.cudnnVersion,
    intraOpThreads: info.intraOpThreads,
    interOpThreads: info.interOpThreads,
    hostAllocator: { ...hostAllocator },
    distributed: {
      available: native.distributedUnavailableReason() === null,
      reason: native.distributedUnavailableReason(),
      nccl: native.ncclUnavailableReason() === null,
      ncclReason: native.ncclUnavailableReason(),
    },
    addon: { napiVersion: info.napiVersion === NAPI_VERSION_EXPERIMENTAL ? 'experimental' : info.napiVersion, nodeAbi: process.versions.modules, node: process.version, cxx11Abi: info.cxx11Abi },
  };
}

export function formatDoctorReport(r: DoctorReport): string {
  const lines = [
    `libtorch        ${r.libtorchVersion} (${r.build.toUpperCase()} build)`,
    `libtorch folder ${r.libtorchDir}`,
    `loaded from     ${r.loadedFrom}`,
    `CUDA            ${r.cudaAvailable ? `available, ${r.cudaDevices.length} device(s)` : `not available: ${r.cudaUnavailableReason}`}`,
    ...r.cudaDevices.map((name, i) => `  cuda:${i}        ${name}`),
    `cuDNN           ${r.cudnnVersion ?? 'not available'}`,
    `threads         ${r.intraOpThreads} intra-op, ${r.interOpThreads} inter-op`,
    `distributed     ${r.distributed.available ? `c10d with Gloo (CPU)${r.distributed.nccl ? ' and NCCL (CUDA)' : ''}` : `not available: ${r.distributed.reason}`}`,
    `host malloc     ${r.hostAllocator.tuned ? 'tuned' : 'untouched'}: ${r.hostAllocator.reason}`,
    `tensor memory   ${r.hostAllocator.tensorAllocator === 'malloc' ? 'malloc (reuses freed blocks; see README Performance)' : "libtorch's default allocator"}`,
    `addon           N-API ${r.addon.napiVersion}, Node ${r.addon.node} (ABI ${r.addon.nodeAbi}), C++11 ABI ${r.addon.cxx11Abi ? 'on' : 'off'}`,
  ];
  return lines.join('\n');
}
