// CUDA graphs: record the kernels a JavaScript function launches once, then launch them all
// again with one call (libtorch's at::cuda::CUDAGraph). Capture and warm-up run on a side
// stream, as CUDA requires; the caller's stream waits for them. In builds without CUDA every
// entry point throws, saying why.
#include "common.h"

#ifdef RN_WITH_CUDA
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace rn {
namespace {

// Builds without CUDA: CudaDeviceArg has already refused any CUDA device name by then.
[[noreturn]] void NoCuda(Napi::Env env) {
  throw Napi::Error::New(env, "CUDA graphs need a CUDA build of resnet-native (this addon was built against a CPU-only libtorch)");
}

Napi::Function FunctionArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsFunction()) ThrowExpected(info.Env(), "a function", name, info[i]);
  return info[i].As<Napi::Function>();
}

// The CUDA device named by argument i ('cuda' is the current one), through the shared device
// parser (which also says when CUDA is unavailable or the index does not exist).
c10::DeviceIndex CudaDeviceArg(const Napi::CallbackInfo& info, size_t i) {
  std::string name = StringArg(info, i, "device");
  torch::Device device = DeviceFromName(info.Env(), name);
  if (!device.is_cuda()) throw Napi::Error::New(info.Env(), "CUDA graphs need a CUDA device, got '" + name + "'");
#ifdef RN_WITH_CUDA
  return device.has_index() ? device.index() : c10::cuda::current_device();
#else
  NoCuda(info.Env());
#endif
}

#ifdef RN_WITH_CUDA
// Runs fn with a fresh side stream of `device` current; the side stream first waits for the
// work already queued on the caller's stream, and the caller's stream then waits for it.
template <typename Body>
Napi::Value OnSideStream(c10::DeviceIndex device, Body&& body) {
  c10::cuda::CUDAGuard deviceGuard(device);
  auto caller = c10::cuda::getCurrentCUDAStream(device);
  auto side = c10::cuda::getStreamFromPool(false, device);
  at::cuda::CUDAEvent queued;
  queued.record(caller);
  queued.block(side);
  Napi::Value result;
  {
    c10::cuda::CUDAStreamGuard streamGuard(side);
    result = body();
  }
  at::cuda::CUDAEvent done;
  done.record(side);
  done.block(caller);
  return result;
}
#endif

// cudaOnSideStream(fn, device) -> fn(): the warm-up iterations before a capture.
RN_BINDING(CudaOnSideStream) {
  Napi::Function fn = FunctionArg(info, 0, "fn");
  c10::DeviceIndex device = CudaDeviceArg(info, 1);
#ifdef RN_WITH_CUDA
  return OnSideStream(device, [&] { return fn.Call({}); });
#else
  (void)fn;
  (void)device;
  NoCuda(info.Env());
#endif
}

// cudaSynchronize(device): waits for all work queued on the device.
RN_BINDING(CudaSynchronize) {
  c10::DeviceIndex device = CudaDeviceArg(info, 0);
#ifdef RN_WITH_CUDA
  c10::cuda::CUDAGuard guard(device);
  c10::cuda::device_synchronize();
  return info.Env().Undefined();
#else
  (void)device;
  NoCuda(info.Env());
#endif
}

class CudaGraphWrap : public Napi::ObjectWrap<CudaGraphWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaGraph",
                       {
                           InstanceMethod<&CudaGraphWrap::Capture>("capture"),
                           InstanceMethod<&CudaGraphWrap::Replay>("replay"),
                           InstanceMethod<&CudaGraphWrap::Reset>("reset"),
                           InstanceAccessor<&CudaGraphWrap::Captured>("captured"),
                       });
  }

  // new CudaGraph(device): a graph of work on that CUDA device.
  explicit CudaGraphWrap(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    device_ = Protect(info.Env(), [&] { return CudaDeviceArg(info, 0); });
  }

 private:
  // capture(fn) -> fn(): records the CUDA work fn queues instead of running it. The
  // autocast weight cache is off during capture (its entries would outlive the capture's pool).
  // Thread-local capture mode: other Node worker threads may use the GPU meanwhile.
  Napi::Value Capture(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&]() -> Napi::Value {
      Napi::Function fn = FunctionArg(info, 0, "fn");
#ifdef RN_WITH_CUDA
      if (graph_) throw Napi::Error::New(info.Env(), "this CUDA graph is already captured: reset() it first");
      return OnSideStream(device_, [&]() -> Napi::Value {
        bool cache = at::autocast::is_autocast_cache_enabled();
        at::autocast::set_autocast_cache_enabled(false);
        auto graph = std::make_unique<at::cuda::CUDAGraph>();
        graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
        Napi::Value result;
        try {
          result = fn.Call({});
        } catch (...) {
          try {
            graph->capture_end();
          } catch (...) {
            // the capture was already invalidated by the error being reported
          }
          at::autocast::set_autocast_cache_enabled(cache);
          throw;
        }
        at::autocast::set_autocast_cache_enabled(cache);
        graph->capture_end();
        graph_ = std::move(graph);
        return result;
      });
#else
      (void)fn;
      NoCuda(info.Env());
#endif
    });
  }

  Napi::Value Replay(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&]() -> Napi::Value {
#ifdef RN_WITH_CUDA
      if (!graph_) throw Napi::Error::New(info.Env(), "this CUDA graph has not been captured");
      graph_->replay();
      return info.Env().Undefined();
#else
      NoCuda(info.Env());
#endif
    });
  }

  // Frees the graph and its memory pool (tensors made during capture keep their own memory).
  Napi::Value Reset(const Napi::CallbackInfo& info) {
#ifdef RN_WITH_CUDA
    graph_.reset();
#endif
    return info.Env().Undefined();
  }

  Napi::Value Captured(const Napi::CallbackInfo& info) {
#ifdef RN_WITH_CUDA
    return Napi::Boolean::New(info.Env(), graph_ != nullptr);
#else
    return Napi::Boolean::New(info.Env(), false);
#endif
  }

  c10::DeviceIndex device_ = 0;
#ifdef RN_WITH_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph_;
#endif
};

}  // namespace

void InitCudaGraph(Napi::Env env, Napi::Object exports) {
  exports.Set("CudaGraph", CudaGraphWrap::Define(env));
  exports.Set("cudaOnSideStream", Napi::Function::New<CudaOnSideStream>(env, "cudaOnSideStream"));
  exports.Set("cudaSynchronize", Napi::Function::New<CudaSynchronize>(env, "cudaSynchronize"));
}

}  // namespace rn
