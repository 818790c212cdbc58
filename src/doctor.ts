// What `resnet-native doctor` reports: which libtorch this process runs on and what it can use.
import { hostAllocator, native } from './native';

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
  hostAllocator: { tuned: boolean; reason: string };
  addon: { napiVersion: number; nodeAbi: string; node: string; cxx11Abi: boolean };
}

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
    addon: { napiVersion: info.napiVersion, nodeAbi: process.versions.modules, node: process.version, cxx11Abi: info.cxx11Abi },
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
    `host malloc     ${r.hostAllocator.tuned ? 'tuned' : 'untouched'}: ${r.hostAllocator.reason}`,
    `addon           N-API ${r.addon.napiVersion}, Node ${r.addon.node} (ABI ${r.addon.nodeAbi}), C++11 ABI ${r.addon.cxx11Abi ? 'on' : 'off'}`,
  ];
  return lines.join('\n');
}
