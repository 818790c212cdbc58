// libtorch's c10d: a TCPStore for rendezvous and a Gloo process group for the collectives. Built
// only where gloo's headers were found at configure time (RN_WITH_GLOO; Debian's libgloo-dev);
// elsewhere the same functions exist and throw the reason, so the addon always loads. Policy
// (defaults from the launcher's environment, which rank serves the store, averaging) lives in
// src/distributed/.
#include "common.h"

#ifdef RN_WITH_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace rn {
namespace {

[[maybe_unused]] const char* kNoGloo =
    "distributed training is not available: this addon was built without gloo's headers. Install them "
    "(Debian/Ubuntu: apt-get install libgloo-dev) and rebuild (npm rebuild resnet-native)";

#ifdef RN_WITH_GLOO

std::string StringOption(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return "";
  if (!v.IsString()) ThrowExpected(o.Env(), "a string", std::string("option ") + key, v);
  return v.As<Napi::String>().Utf8Value();
}

int64_t IntOption(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) ThrowExpected(o.Env(), "an integer", std::string("option ") + key, v);
  return v.As<Napi::Number>().Int64Value();
}

c10d::ReduceOp ReduceOpFromName(Napi::Env env, const std::string& name) {
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "min") return c10d::ReduceOp::MIN;
  if (name == "product") return c10d::ReduceOp::PRODUCT;
  ThrowType(env, "reduce op must be 'sum', 'max', 'min' or 'product', got '" + name + "'");
}

// new ProcessGroup({ rank, worldSize, host, port, isServer, prefix, timeoutMs, interface, hostname })
// Blocks until every rank has joined (or the timeout passes).
class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroup",
                       {
                           InstanceAccessor<&ProcessGroupWrap::Rank>("rank"),
                           InstanceAccessor<&ProcessGroupWrap::Size>("worldSize"),
                           InstanceMethod<&ProcessGroupWrap::Allreduce>("allreduce"),
                           InstanceMethod<&ProcessGroupWrap::Broadcast>("broadcast"),
                           InstanceMethod<&ProcessGroupWrap::Allgather>("allgather"),
                           InstanceMethod<&ProcessGroupWrap::Barrier>("barrier"),
                           InstanceMethod<&ProcessGroupWrap::Destroy>("destroy"),
                           InstanceAccessor<&ProcessGroupWrap::IsDestroyed>("isDestroyed"),
                       });
  }

  explicit ProcessGroupWrap(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Protect(info.Env(), [&] {
      Napi::Env env = info.Env();
      if (!info[0].IsObject()) ThrowExpected(env, "an options object", "options", info[0]);
      Napi::Object o = info[0].As<Napi::Object>();
      int64_t rank = IntOption(o, "rank");
      int64_t size = IntOption(o, "worldSize");
      int64_t port = IntOption(o, "port");
      int64_t timeoutMs = IntOption(o, "timeoutMs");
      if (size < 1 || rank < 0 || rank >= size) throw Napi::RangeError::New(env, "rank must be in [0, worldSize)");
      if (port < 1 || port > 65535) throw Napi::RangeError::New(env, "port must be between 1 and 65535");
      Napi::Value isServer = o.Get("isServer");
      if (!isServer.IsBoolean()) ThrowExpected(env, "a boolean", "option isServer", isServer);
      std::chrono::milliseconds timeout(timeoutMs);

      c10d::TCPStoreOptions storeOptions;
      storeOptions.port = static_cast<std::uint16_t>(port);
      storeOptions.isServer = isServer.As<Napi::Boolean>().Value();
      if (storeOptions.isServer) storeOptions.numWorkers = static_cast<std::size_t>(size);
      storeOptions.waitWorkers = false;  // Gloo's own rendezvous below waits for every rank
      storeOptions.timeout = timeout;
      c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(StringOption(o, "host"), storeOptions);
      std::string prefix = StringOption(o, "prefix");
      if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);

      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      std::string interface = StringOption(o, "interface");
      std::string hostname = StringOption(o, "hostname");
      options->devices.push_back(!interface.empty()  ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                 : !hostname.empty() ? c10d::ProcessGroupGloo::createDeviceForHostname(hostname)
                                                     : c10d::ProcessGroupGloo::createDefaultDevice());
      backend_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, int(rank), int(size), options);
      group_ = c10::make_intrusive<c10d::ProcessGroup>(store, int(rank), int(size));
      group_->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, backend_);
      group_->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
      store_ = store;
      return 0;
    });
  }

 private:
  c10d::ProcessGroupGloo& Backend(Napi::Env env) {
    if (!backend_) throw Napi::Error::New(env, "this process group has been destroyed");
    return *backend_;
  }
  static void Wait(const c10::intrusive_ptr<c10d::Work>& work) { work->wait(); }
  // Gloo's list form means one tensor per device (all of one size): each tensor of ours is its
  // own collective, all started before the first wait.
  template <typename Start>
  static void EachThenWait(std::vector<torch::Tensor>& tensors, Start start) {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    works.reserve(tensors.size());
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t};
      works.push_back(start(one));
    }
    for (auto& w : works) Wait(w);
  }

  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group_ ? group_->getRank() : -1); }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group_ ? group_->getSize() : 0); }
  Napi::Value IsDestroyed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !backend_); }

  // allreduce(tensors, op): in place, every rank ends with the reduction.
  Napi::Value Allreduce(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      auto tensors = TensorListArg(info, 0, "tensors");
      c10d::AllreduceOptions opts;
      opts.reduceOp = ReduceOpFromName(info.Env(), StringArg(info, 1, "op"));
      c10d::ProcessGroupGloo& backend = Backend(info.Env());
      EachThenWait(tensors, [&](std::vector<torch::Tensor>& one) { return backend.allreduce(one, opts); });
      return info.Env().Undefined();
    });
  }
  // broadcast(tensors, root): in place, every rank ends with root's values.
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      auto tensors = TensorListArg(info, 0, "tensors");
      c10d::BroadcastOptions opts;
      opts.rootRank = IntArg(info, 1, "root");
      c10d::ProcessGroupGloo& backend = Backend(info.Env());
      EachThenWait(tensors, [&](std::vector<torch::Tensor>& one) { return backend.broadcast(one, opts); });
      return info.Env().Undefined();
    });
  }
  // allgather(tensor) -> [one tensor per rank]
  Napi::Value Allgather(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      std::vector<torch::Tensor> input{TensorArg(info, 0, "tensor")};
      c10d::ProcessGroupGloo& backend = Backend(info.Env());
      std::vector<std::vector<torch::Tensor>> output(1);
      for (int r = 0; r < backend.getSize(); ++r) output[0].push_back(torch::empty_like(input[0]));
      Wait(backend.allgather(output, input, c10d::AllgatherOptions()));
      return WrapTensors(info.Env(), output[0]);
    });
  }
  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      Wait(Backend(info.Env()).barrier(c10d::BarrierOptions()));
      return info.Env().Undefined();
    });
  }
  // destroy(): leaves the group (its connections close); idempotent.
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    group_.reset();
    backend_.reset();
    store_.reset();
    return info.Env().Undefined();
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> backend_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

#endif  // RN_WITH_GLOO

RN_BINDING(DistributedUnavailableReason) {
#ifdef RN_WITH_GLOO
  return info.Env().Null();
#else
  return Napi::String::New(info.Env(), kNoGloo);
#endif
}

#ifndef RN_WITH_GLOO
RN_BINDING(NoProcessGroup) { throw Napi::Error::New(info.Env(), kNoGloo); }
#endif

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
#ifdef RN_WITH_GLOO
  exports.Set("ProcessGroup", ProcessGroupWrap::Define(env));
#else
  exports.Set("ProcessGroup", Napi::Function::New<NoProcessGroup>(env, "ProcessGroup"));
#endif
  exports.Set("distributedUnavailableReason", Napi::Function::New<DistributedUnavailableReason>(env, "distributedUnavailableReason"));
}

}  // namespace rn
