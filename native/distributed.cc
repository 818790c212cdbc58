// libtorch's c10d: a TCPStore for rendezvous and a Gloo (CPU) or NCCL (CUDA builds) process group
// for the collectives. Built only where gloo's headers were found at configure time (RN_WITH_GLOO;
// Debian's libgloo-dev), NCCL where the CUDA libtorch and nccl.h were (RN_WITH_NCCL);
// elsewhere the same functions exist and throw the reason, so the addon always loads. Policy
// (defaults from the launcher's environment, which rank serves the store, averaging) lives in
// src/distributed/.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common.h"

#ifdef RN_WITH_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#endif
#ifdef RN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace rn {
namespace {

[[maybe_unused]] const char* kNoGloo =
    "distributed training is not available: this addon was built without gloo's headers. Install them "
    "(Debian/Ubuntu: apt-get install libgloo-dev) and rebuild (npm rebuild resnet-native)";

#ifdef RN_WITH_GLOO

[[maybe_unused]] const char* kNoNccl =
    "the NCCL backend is not in this build: it needs the CUDA build of libtorch and NCCL's header (nccl.h, "
    "which the CUDA torch wheels carry in nvidia/nccl/include) at build time";

c10d::ReduceOp ReduceOpFromName(Napi::Env env, const std::string& name) {
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "min") return c10d::ReduceOp::MIN;
  if (name == "product") return c10d::ReduceOp::PRODUCT;
  ThrowType(env, "reduce op must be 'sum', 'max', 'min' or 'product', got '" + name + "'");
}

// Publishes "<beat> <collectives entered>" under heartbeat/<rank> twice a second, from its own
// thread and store connection. After a failed collective a survivor reads everyone's: a rank whose
// beat stopped is gone (its process died or is stopped); one that beats but entered fewer
// collectives is alive and behind (it hangs). Store failures are ignored here: the survivor's
// reading reports them.
class Heartbeat {
 public:
  static constexpr std::chrono::milliseconds kInterval{500};

  Heartbeat(const c10::intrusive_ptr<c10d::Store>& store, int rank) : store_(store->clone()), key_("heartbeat/" + std::to_string(rank)) {
    store_->setTimeout(std::chrono::milliseconds(2000));
    thread_ = std::thread([this] { Run(); });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void Entered() { entered_.fetch_add(1); }
  uint64_t entered() const { return entered_.load(); }

 private:
  void Run() {
    uint64_t beat = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      lock.unlock();
      try {
        std::string value = std::to_string(beat++) + " " + std::to_string(entered_.load());
        store_->set(key_, std::vector<uint8_t>(value.begin(), value.end()));
      } catch (...) {
        return;  // the store is gone for good (a TCPStore client does not reconnect)
      }
      lock.lock();
      wake_.wait_for(lock, kInterval, [this] { return stop_; });
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  std::string key_;
  std::atomic<uint64_t> entered_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// Only objects carrying this tag are unwrapped as process groups (as tensors, see tensor.cc).
const napi_type_tag kProcessGroupTag = {0x4c1d0a7be2936f58ULL, 0xa95e3c7d10b84f26ULL};

// Only objects carrying this tag are unwrapped as stores.
const napi_type_tag kStoreTag = {0x7d3f12a9c04b6e81ULL, 0x2e68b5d1f9a7c034ULL};

// new Store({ host, port, isServer, worldSize, timeoutMs, prefix }): the job's rendezvous TCPStore,
// served here (isServer) or reached as a client (connecting retries until timeoutMs), its keys under
// `prefix`. The join handshake (src/distributed/rendezvous.ts) uses set / tryGet; the process group
// is then made on it.
class StoreWrap : public Napi::ObjectWrap<StoreWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Store",
                       {
                           InstanceMethod<&StoreWrap::Set>("set"),
                           InstanceMethod<&StoreWrap::TryGet>("tryGet"),
                           InstanceMethod<&StoreWrap::Close>("close"),
                       });
  }

  explicit StoreWrap(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Protect(info.Env(), [&] {
      Napi::Env env = info.Env();
      if (!info[0].IsObject()) ThrowExpected(env, "an options object", "options", info[0]);
      Napi::Object o = info[0].As<Napi::Object>();
      int64_t port = IntProp(o, "port");
      int64_t size = IntProp(o, "worldSize");
      int64_t timeoutMs = IntProp(o, "timeoutMs");
      if (port < 1 || port > 65535) throw Napi::RangeError::New(env, "port must be between 1 and 65535");
      if (size < 1) throw Napi::RangeError::New(env, "worldSize must be positive");
      if (timeoutMs < 1) throw Napi::RangeError::New(env, "timeoutMs must be positive");
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(port);
      options.isServer = BoolProp(o, "isServer");
      if (options.isServer) options.numWorkers = static_cast<std::size_t>(size);
      options.waitWorkers = false;  // the join handshake waits, and can say for whom
      options.timeout = std::chrono::milliseconds(timeoutMs);
      store_ = c10::make_intrusive<c10d::TCPStore>(StringProp(o, "host"), options);
      std::string prefix = StringProp(o, "prefix");
      if (!prefix.empty()) store_ = c10::make_intrusive<c10d::PrefixStore>(prefix, store_);
      info.This().As<Napi::Object>().TypeTag(&kStoreTag);
      return 0;
    });
  }

  // The c10d store behind a JavaScript Store handle (a TypeError for anything else).
  static c10::intrusive_ptr<c10d::Store> StoreValue(Napi::Env env, Napi::Value v) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kStoreTag)) ThrowExpected(env, "a Store", "store", v);
    StoreWrap* wrap = Unwrap(v.As<Napi::Object>());
    if (!wrap->store_) throw Napi::Error::New(env, "this store has been closed");
    return wrap->store_;
  }

 private:
  c10d::Store& Get(Napi::Env env) {
    if (!store_) throw Napi::Error::New(env, "this store has been closed");
    return *store_;
  }
  // set(key, value)
  Napi::Value Set(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      std::string key = StringArg(info, 0, "key");
      std::string value = StringArg(info, 1, "value");
      Get(info.Env()).set(key, std::vector<uint8_t>(value.begin(), value.end()));
      return info.Env().Undefined();
    });
  }
  // tryGet(key) -> the value, or null when no rank has set it (does not wait)
  Napi::Value TryGet(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&]() -> Napi::Value {
      std::string key = StringArg(info, 0, "key");
      c10d::Store& store = Get(info.Env());
      if (!store.check({key})) return info.Env().Null();
      auto bytes = store.get(key);
      return Napi::String::New(info.Env(), std::string(bytes.begin(), bytes.end()));
    });
  }
  // close(): drops this handle's connection (the process group keeps its own reference)
  Napi::Value Close(const Napi::CallbackInfo& info) {
    store_.reset();
    return info.Env().Undefined();
  }

  c10::intrusive_ptr<c10d::Store> store_;
};

// new ProcessGroup(store, { backend, rank, worldSize, timeoutMs, interface, hostname }) on a joined
// Store. Gloo's rendezvous on the store blocks until every rank's address is there (or the timeout).
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
                           InstanceMethod<&ProcessGroupWrap::PeerStates>("peerStates"),
                           InstanceMethod<&ProcessGroupWrap::BroadcastCoalesced>("broadcastCoalesced"),
                           InstanceMethod<&ProcessGroupWrap::Destroy>("destroy"),
                           InstanceAccessor<&ProcessGroupWrap::IsDestroyed>("isDestroyed"),
                       });
  }

  explicit ProcessGroupWrap(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Protect(info.Env(), [&] {
      Napi::Env env = info.Env();
      c10::intrusive_ptr<c10d::Store> store = StoreWrap::StoreValue(env, info[0]);
      if (!info[1].IsObject()) ThrowExpected(env, "an options object", "options", info[1]);
      Napi::Object o = info[1].As<Napi::Object>();
      int64_t rank = IntProp(o, "rank");
      int64_t size = IntProp(o, "worldSize");
      int64_t timeoutMs = IntProp(o, "timeoutMs");
      if (size < 1 || rank < 0 || rank >= size) throw Napi::RangeError::New(env, "rank must be in [0, worldSize)");
      if (timeoutMs < 1) throw Napi::RangeError::New(env, "timeoutMs must be positive");
      std::chrono::milliseconds timeout(timeoutMs);
      std::string backendName = StringProp(o, "backend");
      if (backendName != "gloo" && backendName != "nccl") throw Napi::RangeError::New(env, "backend must be 'gloo' or 'nccl', got '" + backendName + "'");
#ifndef RN_WITH_NCCL
      if (backendName == "nccl") throw Napi::Error::New(env, kNoNccl);
#endif
      store->setTimeout(timeout);  // from here on the collectives' timeout, not the join deadline

      c10::intrusive_ptr<c10d::Backend> backend;
      auto type = c10d::ProcessGroup::BackendType::GLOO;
      auto device = c10::DeviceType::CPU;
      if (backendName == "gloo") {
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        std::string interface = StringProp(o, "interface");
        std::string hostname = StringProp(o, "hostname");
        options->devices.push_back(!interface.empty()  ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                                   : !hostname.empty() ? c10d::ProcessGroupGloo::createDeviceForHostname(hostname)
                                                       : c10d::ProcessGroupGloo::createDefaultDevice());
        backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, int(rank), int(size), options);
      } else {
#ifdef RN_WITH_NCCL
        // NCCL makes its communicators at the first collective, on the tensors' device: the ranks
        // meet there rather than here
        auto options = c10d::ProcessGroupNCCL::Options::create();
        options->timeout = timeout;
        backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, int(rank), int(size), options);
        type = c10d::ProcessGroup::BackendType::NCCL;
        device = c10::DeviceType::CUDA;
#endif
      }
      group_ = c10::make_intrusive<c10d::ProcessGroup>(store, int(rank), int(size));
      group_->setBackend(device, type, backend);
      group_->setDefaultBackend(type);
      backend_ = backend;
      store_ = store;
      heartbeat_ = std::make_unique<Heartbeat>(store, int(rank));
      // connected now: after a failure the store's host may be gone, and a new client would
      // spend its whole connect timeout retrying
      diagnosticStore_ = store->clone();
      info.This().As<Napi::Object>().TypeTag(&kProcessGroupTag);
      return 0;
    });
  }

  // The c10d group behind a JavaScript ProcessGroup handle (a TypeError for anything else).
  static c10::intrusive_ptr<c10d::ProcessGroup> GroupArg(const Napi::CallbackInfo& info, size_t i) {
    Napi::Value v = info[i];
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kProcessGroupTag)) ThrowExpected(info.Env(), "a ProcessGroup", "group", v);
    ProcessGroupWrap* wrap = Unwrap(v.As<Napi::Object>());
    if (!wrap->group_) throw Napi::Error::New(info.Env(), "this process group has been destroyed");
    return wrap->group_;
  }

 private:
  // The backend for the next collective (counted in the heartbeat).
  c10d::Backend& Backend(Napi::Env env) {
    if (!backend_) throw Napi::Error::New(env, "this process group has been destroyed");
    heartbeat_->Entered();
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
      c10d::Backend& backend = Backend(info.Env());
      torch::NoGradGuard noGrad;
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
      c10d::Backend& backend = Backend(info.Env());
      torch::NoGradGuard noGrad;
      EachThenWait(tensors, [&](std::vector<torch::Tensor>& one) { return backend.broadcast(one, opts); });
      return info.Env().Undefined();
    });
  }
  // allgather(tensor) -> [one tensor per rank]
  Napi::Value Allgather(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      std::vector<torch::Tensor> input{TensorArg(info, 0, "tensor")};
      c10d::Backend& backend = Backend(info.Env());
      std::vector<std::vector<torch::Tensor>> output(1);
      for (int r = 0; r < backend.getSize(); ++r) output[0].push_back(torch::empty_like(input[0]));
      Wait(backend.allgather(output, input, c10d::AllgatherOptions()));
      return WrapTensors(info.Env(), output[0]);
    });
  }
  // broadcastCoalesced(tensors, root, bufferBytes): root's values into every rank's, packed into
  // buffers of up to bufferBytes (how DDP syncs a module's parameters and buffers).
  Napi::Value BroadcastCoalesced(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      auto tensors = TensorListArg(info, 0, "tensors");
      int64_t root = IntArg(info, 1, "root");
      int64_t bufferBytes = IntArg(info, 2, "bufferBytes");
      if (bufferBytes < 1) throw Napi::RangeError::New(info.Env(), "bufferBytes must be positive");
      Backend(info.Env());
      torch::NoGradGuard noGrad;  // results are copied into leaves that require grad (parameters)
      c10d::broadcast_coalesced(group_, tensors, static_cast<size_t>(bufferBytes), int(root));
      return info.Env().Undefined();
    });
  }
  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      Wait(Backend(info.Env()).barrier(c10d::BarrierOptions()));
      return info.Env().Undefined();
    });
  }
  // peerStates(timeoutMs) -> { entered, peers: ["<beat> <entered>" or null per rank] }: what every
  // rank's heartbeat last published (null: nothing yet). Throws when the store cannot be reached.
  Napi::Value PeerStates(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      int64_t timeoutMs = IntArg(info, 0, "timeoutMs");
      if (timeoutMs < 1) throw Napi::RangeError::New(info.Env(), "timeoutMs must be positive");
      if (!diagnosticStore_) throw Napi::Error::New(info.Env(), "this process group has been destroyed");
      auto& store = diagnosticStore_;
      store->setTimeout(std::chrono::milliseconds(timeoutMs));
      Napi::Env env = info.Env();
      Napi::Array peers = Napi::Array::New(env);
      for (int r = 0; r < group_->getSize(); ++r) {
        std::string key = "heartbeat/" + std::to_string(r);
        if (store->check({key})) {
          auto bytes = store->get(key);
          peers.Set(uint32_t(r), Napi::String::New(env, std::string(bytes.begin(), bytes.end())));
        } else {
          peers.Set(uint32_t(r), env.Null());
        }
      }
      Napi::Object result = Napi::Object::New(env);
      result.Set("entered", Napi::Number::New(env, double(heartbeat_->entered())));
      result.Set("peers", peers);
      return result;
    });
  }
  // destroy(): leaves the group (its connections close); idempotent.
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    heartbeat_.reset();
    diagnosticStore_.reset();
    group_.reset();
    backend_.reset();
    store_.reset();
    return info.Env().Undefined();
  }

  c10::intrusive_ptr<c10d::Store> store_;
  std::unique_ptr<Heartbeat> heartbeat_;
  c10::intrusive_ptr<c10d::Store> diagnosticStore_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

// new Reducer(group, params, names, bucketCapBytes, firstBucketBytes): DDP's gradient reducer.
// Hooks on the parameters' gradient accumulators all-reduce (average) buckets of gradients while
// backward is still running; when backward returns, every rank holds the averaged gradients.
// Each step: prepareForForward(), rebuildBuckets(), forward, prepareForBackward(), backward.
class ReducerWrap : public Napi::ObjectWrap<ReducerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Reducer",
                       {
                           InstanceMethod<&ReducerWrap::PrepareForForward>("prepareForForward"),
                           InstanceMethod<&ReducerWrap::RebuildBuckets>("rebuildBuckets"),
                           InstanceMethod<&ReducerWrap::PrepareForBackward>("prepareForBackward"),
                           InstanceMethod<&ReducerWrap::Dispose>("dispose"),
                       });
  }

  explicit ReducerWrap(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Protect(info.Env(), [&] {
      auto group = ProcessGroupWrap::GroupArg(info, 0);
      auto params = TensorListArg(info, 1, "params");
      if (!info[2].IsArray()) ThrowExpected(info.Env(), "an array of names", "names", info[2]);
      auto namesArray = info[2].As<Napi::Array>();
      if (namesArray.Length() != params.size()) throw Napi::RangeError::New(info.Env(), "one name per parameter");
      std::unordered_map<size_t, std::string> names;
      for (uint32_t k = 0; k < namesArray.Length(); ++k) names[k] = namesArray.Get(k).ToString().Utf8Value();
      int64_t cap = IntArg(info, 3, "bucketCapBytes");
      int64_t first = IntArg(info, 4, "firstBucketBytes");
      if (cap < 1 || first < 1) throw Napi::RangeError::New(info.Env(), "bucket sizes must be positive");
      for (const auto& p : params) {
        if (!p.requires_grad()) throw Napi::Error::New(info.Env(), "every parameter given to the reducer must require grad");
      }
      std::vector<bool> sparse(params.size(), false);
      auto [indices, limits] = c10d::compute_bucket_assignment_by_size(params, {size_t(first), size_t(cap)}, sparse);
      // As PyTorch's DDP: the buckets in reverse, so the last layers' gradients (ready first in
      // backward) go out first.
      std::reverse(indices.begin(), indices.end());
      std::vector<int64_t> limitList(limits.rbegin(), limits.rend());
      reducer_ = std::make_unique<c10d::Reducer>(params, std::move(indices), group, sparse, cap, /*find_unused_parameters=*/false,
                                                 /*gradient_as_bucket_view=*/false, std::move(names), first,
                                                 /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false, limitList);
      return 0;
    });
  }

 private:
  c10d::Reducer& Get(Napi::Env env) {
    if (!reducer_) throw Napi::Error::New(env, "this reducer has been disposed");
    return *reducer_;
  }
  Napi::Value PrepareForForward(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      Get(info.Env()).prepare_for_forward();
      return info.Env().Undefined();
    });
  }
  Napi::Value RebuildBuckets(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] { return Napi::Boolean::New(info.Env(), Get(info.Env()).rebuild_buckets()); });
  }
  Napi::Value PrepareForBackward(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      Get(info.Env()).prepare_for_backward({});
      return info.Env().Undefined();
    });
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      reducer_.reset();
      return info.Env().Undefined();
    });
  }

  std::unique_ptr<c10d::Reducer> reducer_;
};

#endif  // RN_WITH_GLOO

RN_BINDING(DistributedUnavailableReason) {
#ifdef RN_WITH_GLOO
  return info.Env().Null();
#else
  return Napi::String::New(info.Env(), kNoGloo);
#endif
}

// Why the NCCL backend is missing from this build (null when it is there).
RN_BINDING(NcclUnavailableReason) {
#if defined(RN_WITH_NCCL)
  return info.Env().Null();
#elif defined(RN_WITH_GLOO)
  return Napi::String::New(info.Env(), kNoNccl);
#else
  return Napi::String::New(info.Env(), kNoGloo);
#endif
}

#ifndef RN_WITH_GLOO
RN_BINDING(NoDistributed) { throw Napi::Error::New(info.Env(), kNoGloo); }
#endif

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
#ifdef RN_WITH_GLOO
  exports.Set("ProcessGroup", ProcessGroupWrap::Define(env));
  exports.Set("Store", StoreWrap::Define(env));
  exports.Set("Reducer", ReducerWrap::Define(env));
#else
  exports.Set("Store", Napi::Function::New<NoDistributed>(env, "Store"));
  exports.Set("ProcessGroup", Napi::Function::New<NoDistributed>(env, "ProcessGroup"));
  exports.Set("Reducer", Napi::Function::New<NoDistributed>(env, "Reducer"));
#endif
  exports.Set("distributedUnavailableReason", Napi::Function::New<DistributedUnavailableReason>(env, "distributedUnavailableReason"));
  exports.Set("ncclUnavailableReason", Napi::Function::New<NcclUnavailableReason>(env, "ncclUnavailableReason"));
}

}  // namespace rn
