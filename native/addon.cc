// Registers every part of the binding. Context-aware: all state lives in per-environment
// instance data, so the addon loads in the main thread and in any number of workers.
#include "common.h"

namespace rn {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  env.SetInstanceData(data);
  // Tensors still alive when a worker exits are finalized during teardown: stop reporting
  // their memory to a V8 heap that is going away.
  std::shared_ptr<Accounting> accounting = data->accounting;
  env.AddCleanupHook([accounting]() { accounting->shuttingDown = true; });
  InitTensor(env, exports);
  InitOps(env, exports);
  InitAutograd(env, exports);
  InitModules(env, exports);
  InitDevice(env, exports);
  InitCudaGraph(env, exports);
  InitAllocator(env, exports);
  InitDistributed(env, exports);
  return exports;
}

}  // namespace rn

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return rn::Init(env, exports); }

NODE_API_MODULE(resnet_native, InitAddon)
