// Shared plumbing of the binding: per-thread instance data, the one exception wrapper, and
// argument conversion. Policy and friendly argument checks live in TypeScript; the checks here
// exist so that nothing a caller passes can crash the process.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pch.h"

namespace rn {

// Live tensors held by JavaScript handles on one thread (one Node environment), counting each
// storage once however many handles share it.
struct Accounting {
  int64_t tensors = 0;
  int64_t bytes = 0;
  int64_t releasedByGc = 0;  // handles finalized by the garbage collector while still holding a tensor
  std::unordered_map<const void*, std::pair<int64_t, int64_t>> storages;  // key -> (handles, bytes)
  bool shuttingDown = false;
};

// One per Node environment (main thread or worker): constructors live here, not in statics,
// which is what makes the addon work in worker_threads.
struct InstanceData {
  Napi::FunctionReference tensorCtor;
  std::optional<torch::Tensor> pending;  // handed from Tensor::Wrap to the constructor
  std::shared_ptr<Accounting> accounting = std::make_shared<Accounting>();
};

inline InstanceData& Instance(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }

// Runs a binding body and turns every C++ exception into a JavaScript Error that carries
// libtorch's own message (without its C++ backtrace).
template <typename F>
auto Protect(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  } catch (...) {
    throw Napi::Error::New(env, "unknown native error");
  }
}

// Declares a binding function whose body runs under Protect.
#define RN_BINDING(name)                                                       \
  static Napi::Value name##Body(const Napi::CallbackInfo& info);              \
  Napi::Value name(const Napi::CallbackInfo& info) {                          \
    return ::rn::Protect(info.Env(), [&]() { return name##Body(info); });     \
  }                                                                           \
  static Napi::Value name##Body(const Napi::CallbackInfo& info)

[[noreturn]] inline void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}
// The TypeScript checks' message shape (src/errors.ts): "Expected <what> for <name> but received
// <value> of type <type>".
[[noreturn]] void ThrowExpected(Napi::Env env, const std::string& expected, const std::string& name, Napi::Value received);

// ---- tensors ---------------------------------------------------------------------------
torch::Tensor& TensorArg(const Napi::CallbackInfo& info, size_t i, const char* name);
std::optional<torch::Tensor> OptionalTensorArg(const Napi::CallbackInfo& info, size_t i, const char* name);
torch::Tensor& TensorValue(Napi::Env env, Napi::Value v, const std::string& name);
std::vector<torch::Tensor> TensorListFromArray(Napi::Env env, Napi::Array array, const char* name);
std::vector<torch::Tensor> TensorListArg(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Value WrapTensor(Napi::Env env, torch::Tensor t);
Napi::Value WrapTensors(Napi::Env env, const std::vector<torch::Tensor>& ts);
bool IsTensor(Napi::Value v);

// ---- plain values ----------------------------------------------------------------------
double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name);
std::optional<double> OptionalNumberArg(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name);
bool BoolArg(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name);
std::vector<int64_t> IntListArg(const Napi::CallbackInfo& info, size_t i, const char* name);
std::vector<int64_t> IntListValue(Napi::Env env, Napi::Value v, const char* name);
bool IsMissing(const Napi::CallbackInfo& info, size_t i);
// Properties of an options object (required; a TypeError naming the option otherwise).
Napi::Value Prop(Napi::Object options, const char* key);
int64_t IntProp(Napi::Object options, const char* key);
double NumberProp(Napi::Object options, const char* key);
bool BoolProp(Napi::Object options, const char* key);
std::string StringProp(Napi::Object options, const char* key);

// ---- dtypes and devices ----------------------------------------------------------------
torch::Dtype DtypeFromName(Napi::Env env, const std::string& name);
std::string DtypeName(torch::Dtype dtype);
// Parses 'cpu' / 'cuda' / 'cuda:N' and refuses CUDA devices that this process cannot use.
torch::Device DeviceFromName(Napi::Env env, const std::string& name);
std::string DeviceName(const torch::Device& device);
// 'contiguous' | 'channels_last'
c10::MemoryFormat MemoryFormatFromName(Napi::Env env, const std::string& name);
std::string CudaUnavailableReason();
// The libtorch shared library this process loaded, and its root folder.
std::string LoadedLibraryPath();
std::string LibtorchDir();
bool TorchHasCudaSupport();

// ---- registration ----------------------------------------------------------------------
void InitTensor(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitAutograd(Napi::Env env, Napi::Object exports);
void InitModules(Napi::Env env, Napi::Object exports);
void InitDevice(Napi::Env env, Napi::Object exports);
void InitCudaGraph(Napi::Env env, Napi::Object exports);
void InitAllocator(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);

}  // namespace rn
