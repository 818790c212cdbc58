// Devices, seeds, threads, and what `doctor` reports about the libtorch this addon runs on.
#include <dlfcn.h>

#include <algorithm>
#include <thread>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common.h"

// OpenMP's per-thread setter, from the OpenMP runtime libtorch itself loaded (weak: absent when
// libtorch was built with another parallel backend). In libgomp and libiomp it changes the
// calling thread's nthreads ICV only, which is what ATen's parallel_for and oneDNN read.
extern "C" __attribute__((weak)) void omp_set_num_threads(int);

#ifdef RN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace rn {
namespace {

RN_BINDING(CudaIsAvailable) { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); }
RN_BINDING(CudaDeviceCount) { return Napi::Number::New(info.Env(), double(torch::cuda::device_count())); }
RN_BINDING(CudaUnavailable) { return Napi::String::New(info.Env(), CudaUnavailableReason()); }

RN_BINDING(ManualSeed) {
  torch::manual_seed(static_cast<uint64_t>(IntArg(info, 0, "seed")));
  return info.Env().Undefined();
}
// A thread count between 1 and 16x the hardware threads: OpenMP runtimes abort or crash when
// asked for tens of thousands of threads, and no CPU gains from more than a few per core.
int ThreadCountArg(const Napi::CallbackInfo& info) {
  int64_t n = IntArg(info, 0, "threads");
  int64_t most = 16 * std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (n < 1 || n > most) {
    throw Napi::RangeError::New(info.Env(), "Expected a thread count between 1 and " + std::to_string(most) +
                                                " (16 per hardware thread) for threads but received " + std::to_string(n));
  }
  return static_cast<int>(n);
}

RN_BINDING(GetNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }
RN_BINDING(SetNumThreads) {
  int n = ThreadCountArg(info);
  at::set_num_threads(n);
  return info.Env().Undefined();
}

// setThreadNumThreads(n) -> applied: intra-op threads for ops issued on the calling thread only.
// at::set_num_threads also stores a process-wide value that every thread initialising later
// takes, so a data worker that asked for 1 thread used to leave the training thread with 1.
// Here libtorch's lazy per-thread initialisation is done first (from the process-wide value,
// untouched), then only this thread's OpenMP setting changes.
RN_BINDING(SetThreadNumThreads) {
  int n = ThreadCountArg(info);
  at::get_num_threads();
  if (omp_set_num_threads == nullptr) return Napi::Boolean::New(info.Env(), false);
  omp_set_num_threads(n);
  return Napi::Boolean::New(info.Env(), true);
}

// cudnnBenchmark / allowTF32: process-wide switches of libtorch's context; each setter returns
// the previous value. They only change CUDA kernels' choices, so they are harmless on the CPU.
RN_BINDING(SetCudnnBenchmark) {
  bool previous = at::globalContext().benchmarkCuDNN();
  at::globalContext().setBenchmarkCuDNN(BoolArg(info, 0, "enabled"));
  return Napi::Boolean::New(info.Env(), previous);
}
// setCppLogLevel(level) -> previous: the lowest severity libtorch's C++ logging prints (0 info,
// 1 warning, 2 error, 3 fatal), as TORCH_CPP_LOG_LEVEL sets it at start.
RN_BINDING(SetCppLogLevel) {
  int previous = FLAGS_caffe2_log_level;
  int64_t level = IntArg(info, 0, "level");
  if (level < 0 || level > 3) throw Napi::RangeError::New(info.Env(), "level must be 0 (info) to 3 (fatal), got " + std::to_string(level));
  FLAGS_caffe2_log_level = int(level);
  return Napi::Number::New(info.Env(), previous);
}
// setAllowTF32(matmul, convolutions) -> previous [matmul, convolutions]: TensorFloat-32 in cuBLAS
// matrix products and in cuDNN convolutions, two process-wide switches (PyTorch's defaults: off, on).
RN_BINDING(SetAllowTF32) {
  auto& context = at::globalContext();
  auto out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Boolean::New(info.Env(), context.allowTF32CuBLAS()));
  out.Set(1u, Napi::Boolean::New(info.Env(), context.allowTF32CuDNN()));
  bool matmul = BoolArg(info, 0, "matmul");
  bool convolutions = BoolArg(info, 1, "convolutions");
  context.setAllowTF32CuBLAS(matmul);
  context.setAllowTF32CuDNN(convolutions);
  return out;
}

// setAutocast(deviceType, enabled, dtype) -> previous [enabled, dtype]: mixed precision for ops
// issued on this thread (thread-local in libtorch, like grad mode).
RN_BINDING(SetAutocast) {
  Napi::Env env = info.Env();
  std::string kind = StringArg(info, 0, "deviceType");
  c10::DeviceType type = kind == "cuda" ? c10::DeviceType::CUDA : kind == "cpu" ? c10::DeviceType::CPU
                                                                                 : throw Napi::TypeError::New(env, "deviceType must be 'cpu' or 'cuda'");
  auto out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Boolean::New(env, at::autocast::is_autocast_enabled(type)));
  out.Set(1u, Napi::String::New(env, DtypeName(at::autocast::get_autocast_dtype(type))));
  bool enabled = BoolArg(info, 1, "enabled");
  torch::Dtype dtype = DtypeFromName(env, StringArg(info, 2, "dtype"));
  if (dtype != torch::kBFloat16 && dtype != torch::kFloat16) {
    throw Napi::TypeError::New(env, "autocast dtype must be 'bfloat16' or 'float16', got '" + DtypeName(dtype) + "'");
  }
  at::autocast::set_autocast_dtype(type, dtype);
  at::autocast::set_autocast_enabled(type, enabled);
  // Leaving the outermost region drops the cached low-precision weight copies.
  if (!enabled) at::autocast::clear_cache();
  return out;
}

// setMallocThresholds(mmapBytes, trimBytes) -> applied: glibc's mmap and trim thresholds (false
// where the C library is not glibc). Process-wide, so only the first call in the process (the
// first thread that loads the addon) sets them; later calls, from worker threads loading their
// own instance, change nothing and report that first result. The policy is in src/native.ts.
RN_BINDING(SetMallocThresholds) {
  int64_t mmapBytes = IntArg(info, 0, "mmapBytes");
  int64_t trimBytes = IntArg(info, 1, "trimBytes");
  if (mmapBytes < 0 || trimBytes < 0 || mmapBytes > INT32_MAX || trimBytes > INT32_MAX) {
    throw Napi::RangeError::New(info.Env(), "malloc thresholds must be between 0 and 2^31 - 1 bytes");
  }
  static const bool applied = [&] {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, int(mmapBytes)) == 1 && mallopt(M_TRIM_THRESHOLD, int(trimBytes)) == 1;
#else
    return false;
#endif
  }();
  return Napi::Boolean::New(info.Env(), applied);
}

// Bytes held by the CUDA caching allocator on a device (zeros without CUDA).
RN_BINDING(CudaMemory) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  double allocated = 0, reserved = 0, peak = 0;
#ifdef RN_WITH_CUDA
  if (torch::cuda::is_available()) {
    int64_t device = IsMissing(info, 0) ? 0 : IntArg(info, 0, "device");
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
    auto aggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    allocated = double(stats.allocated_bytes[aggregate].current);
    reserved = double(stats.reserved_bytes[aggregate].current);
    peak = double(stats.allocated_bytes[aggregate].peak);
  }
#endif
  out.Set("allocatedBytes", Napi::Number::New(env, allocated));
  out.Set("reservedBytes", Napi::Number::New(env, reserved));
  out.Set("peakAllocatedBytes", Napi::Number::New(env, peak));
  return out;
}

RN_BINDING(BuildInfo) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("libtorchDir", LibtorchDir());
  out.Set("loadedFrom", LoadedLibraryPath());
#ifdef RN_WITH_CUDA
  out.Set("compiledWithCuda", true);
#else
  out.Set("compiledWithCuda", false);
#endif
  out.Set("cudaBuild", TorchHasCudaSupport());
  bool available = torch::cuda::is_available();
  out.Set("cudaAvailable", available);
  out.Set("cudaUnavailableReason", available ? std::string() : CudaUnavailableReason());
  auto names = Napi::Array::New(env);
#ifdef RN_WITH_CUDA
  if (available) {
    for (int64_t i = 0; i < int64_t(torch::cuda::device_count()); ++i) {
      names.Set(uint32_t(i), at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(i))->name);
    }
  }
#endif
  out.Set("cudaDevices", names);
  Napi::Value cudnn = env.Null();
  try {
    if (available) cudnn = Napi::Number::New(env, double(at::detail::getCUDAHooks().versionCuDNN()));
  } catch (const std::exception&) {
    // cuDNN missing: reported as null
  }
  out.Set("cudnnVersion", cudnn);
  out.Set("intraOpThreads", at::get_num_threads());
  out.Set("interOpThreads", at::get_num_interop_threads());
  out.Set("napiVersion", NAPI_VERSION);
  out.Set("cxx11Abi", bool(_GLIBCXX_USE_CXX11_ABI));
  out.Set("parallelInfo", at::get_parallel_info());
  return out;
}

}  // namespace

void InitDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaIsAvailable", Napi::Function::New<CudaIsAvailable>(env, "cudaIsAvailable"));
  exports.Set("cudaDeviceCount", Napi::Function::New<CudaDeviceCount>(env, "cudaDeviceCount"));
  exports.Set("cudaUnavailableReason", Napi::Function::New<CudaUnavailable>(env, "cudaUnavailableReason"));
  exports.Set("cudaMemory", Napi::Function::New<CudaMemory>(env, "cudaMemory"));
  exports.Set("manualSeed", Napi::Function::New<ManualSeed>(env, "manualSeed"));
  exports.Set("getNumThreads", Napi::Function::New<GetNumThreads>(env, "getNumThreads"));
  exports.Set("setNumThreads", Napi::Function::New<SetNumThreads>(env, "setNumThreads"));
  exports.Set("setThreadNumThreads", Napi::Function::New<SetThreadNumThreads>(env, "setThreadNumThreads"));
  exports.Set("buildInfo", Napi::Function::New<BuildInfo>(env, "buildInfo"));
  exports.Set("setCudnnBenchmark", Napi::Function::New<SetCudnnBenchmark>(env, "setCudnnBenchmark"));
  exports.Set("setCppLogLevel", Napi::Function::New<SetCppLogLevel>(env, "setCppLogLevel"));
  exports.Set("setAllowTF32", Napi::Function::New<SetAllowTF32>(env, "setAllowTF32"));
  exports.Set("setMallocThresholds", Napi::Function::New<SetMallocThresholds>(env, "setMallocThresholds"));
  exports.Set("setAutocast", Napi::Function::New<SetAutocast>(env, "setAutocast"));
}

}  // namespace rn
