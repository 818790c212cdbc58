// The Tensor handle: a JavaScript object owning one torch::Tensor reference, its lifetime and
// memory accounting; plus conversion between TypedArrays and tensors and the factories.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common.h"

namespace rn {
namespace {

// Only objects carrying this tag are unwrapped as tensors.
const napi_type_tag kTensorTag = {0x7e5a1c0f2b9d4e61ULL, 0x93c8a7d2e4f10b35ULL};

class Tensor : public Napi::ObjectWrap<Tensor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tensor",
                       {
                           InstanceMethod<&Tensor::Dispose>("dispose"),
                           InstanceAccessor<&Tensor::IsDisposed>("isDisposed"),
                           InstanceAccessor<&Tensor::Shape>("shape"),
                           InstanceAccessor<&Tensor::Dtype>("dtype"),
                           InstanceAccessor<&Tensor::Device>("device"),
                       });
  }

  explicit Tensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tensor>(info) {
    InstanceData& data = Instance(info.Env());
    if (!data.pending) {
      ThrowType(info.Env(), "Tensor handles are created by resnet-native functions, not by `new`");
    }
    tensor_ = std::move(*data.pending);
    data.pending.reset();
    accounting_ = data.accounting;
    info.This().As<Napi::Object>().TypeTag(&kTensorTag);
    Register(info.Env());
  }

  // Runs inside garbage collection (the module is built with Node-API's experimental version),
  // so it frees the tensor at once, even in a loop that never yields; it may only use the
  // Node-API calls that are allowed there (adjusting external memory is).
  ~Tensor() override {
    if (tensor_.defined() && !accounting_->shuttingDown) accounting_->releasedByGc += 1;
    Release(Env());
  }

  torch::Tensor& Get(Napi::Env env, const char* name) {
    if (!tensor_.defined()) {
      throw Napi::Error::New(env, std::string("Tensor '") + name + "' has been disposed and cannot be used");
    }
    return tensor_;
  }

 private:
  void Register(Napi::Env env) {
    if (!tensor_.defined()) return;
    Accounting& acc = *accounting_;
    acc.tensors += 1;
    if (tensor_.has_storage()) {
      storageKey_ = tensor_.storage().unsafeGetStorageImpl();
      auto& entry = acc.storages[storageKey_];
      if (entry.first++ == 0) {
        entry.second = static_cast<int64_t>(tensor_.storage().nbytes());
        acc.bytes += entry.second;
        // Device memory does not pressure V8's heap, so only CPU bytes are reported to it.
        if (tensor_.device().is_cpu()) Napi::MemoryManagement::AdjustExternalMemory(env, entry.second);
      }
    }
  }

  void Release(Napi::Env env) {
    if (!tensor_.defined()) return;
    Accounting& acc = *accounting_;
    acc.tensors -= 1;
    if (storageKey_ != nullptr) {
      auto it = acc.storages.find(storageKey_);
      if (it != acc.storages.end() && --it->second.first == 0) {
        acc.bytes -= it->second.second;
        if (tensor_.device().is_cpu() && !acc.shuttingDown) {
          Napi::MemoryManagement::AdjustExternalMemory(env, -it->second.second);
        }
        acc.storages.erase(it);
      }
      storageKey_ = nullptr;
    }
    tensor_ = torch::Tensor();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !tensor_.defined());
  }
  Napi::Value Shape(const Napi::CallbackInfo& info) {
    auto sizes = Get(info.Env(), "this").sizes();
    auto out = Napi::Array::New(info.Env(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) out.Set(i, Napi::Number::New(info.Env(), double(sizes[i])));
    return out;
  }
  Napi::Value Dtype(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), DtypeName(Get(info.Env(), "this").scalar_type()));
  }
  Napi::Value Device(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), DeviceName(Get(info.Env(), "this").device()));
  }

  torch::Tensor tensor_;
  std::shared_ptr<Accounting> accounting_;
  const void* storageKey_ = nullptr;
};

Tensor* UnwrapTensor(Napi::Value v) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kTensorTag)) return nullptr;
  return Tensor::Unwrap(v.As<Napi::Object>());
}

// ---- TypedArray <-> tensor ----------------------------------------------------------------

torch::Dtype DtypeOfTypedArray(Napi::Env env, const Napi::TypedArray& a) {
  switch (a.TypedArrayType()) {
    case napi_float32_array: return torch::kFloat32;
    case napi_float64_array: return torch::kFloat64;
    case napi_int32_array: return torch::kInt32;
    case napi_bigint64_array: return torch::kInt64;
    case napi_uint8_array: return torch::kUInt8;
    default:
      ThrowExpected(env, "a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array", "data", a);
  }
}

// Host memory that JavaScript bytes are copied into on their way to `device`: page-locked when
// the device is CUDA, so that the copy there is queued without waiting for the GPU (a copy from
// pageable memory waits for the stream to drain: a hidden synchronisation per batch). libtorch's
// host allocator keeps the block until the queued copy has read it.
torch::Tensor HostStaging(c10::IntArrayRef shape, torch::Dtype dtype, const torch::Device& device) {
  return torch::empty(shape, torch::TensorOptions().dtype(dtype).pinned_memory(device.is_cuda()));
}
torch::Tensor FromHost(const torch::Tensor& host, const torch::Device& device, torch::Dtype dtype) {
  return host.to(device, dtype, /*non_blocking=*/device.is_cuda());
}

// fromArray(data, shape, dtype?, device?): copies the data into a new tensor.
RN_BINDING(FromArray) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) ThrowExpected(env, "a TypedArray", "data", info[0]);
  auto array = info[0].As<Napi::TypedArray>();
  torch::Dtype source = DtypeOfTypedArray(env, array);
  auto shape = IntListArg(info, 1, "shape");
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) ThrowType(env, "shape must not contain negative sizes");
    numel *= d;
  }
  if (numel != static_cast<int64_t>(array.ElementLength())) {
    throw Napi::RangeError::New(env, "shape " + c10::str(c10::IntArrayRef(shape)) + " holds " + std::to_string(numel) +
                                         " elements but the data has " + std::to_string(array.ElementLength()));
  }
  auto bytes = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  torch::Dtype dtype = IsMissing(info, 2) ? source : DtypeFromName(env, StringArg(info, 2, "dtype"));
  torch::Device device = IsMissing(info, 3) ? torch::Device(torch::kCPU) : DeviceFromName(env, StringArg(info, 3, "device"));
  torch::Tensor t = HostStaging(shape, source, device);
  if (numel > 0) std::memcpy(t.data_ptr(), bytes, array.ByteLength());
  return WrapTensor(env, FromHost(t, device, dtype));
}

// fromBytes(bytes, shape, dtype, device?): raw little-endian element bytes (any dtype, including
// float16 / bfloat16 / bool) copied into a new tensor. Used by the checkpoint readers.
RN_BINDING(FromBytes) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowExpected(env, "a Uint8Array", "bytes", info[0]);
  }
  auto bytes = info[0].As<Napi::Uint8Array>();
  auto shape = IntListArg(info, 1, "shape");
  torch::Dtype dtype = DtypeFromName(env, StringArg(info, 2, "dtype"));
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) ThrowType(env, "shape must not contain negative sizes");
    numel *= d;
  }
  size_t expected = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (bytes.ByteLength() != expected) {
    throw Napi::RangeError::New(env, "shape " + c10::str(c10::IntArrayRef(shape)) + " of " + DtypeName(dtype) + " needs " +
                                         std::to_string(expected) + " bytes but " + std::to_string(bytes.ByteLength()) +
                                         " were given");
  }
  torch::Device device = IsMissing(info, 3) ? torch::Device(torch::kCPU) : DeviceFromName(env, StringArg(info, 3, "device"));
  torch::Tensor t = HostStaging(shape, dtype, device);
  if (expected > 0) std::memcpy(t.data_ptr(), bytes.Data(), expected);
  return WrapTensor(env, FromHost(t, device, dtype));
}

// readFile(path, bytes): the file's first `bytes` bytes read into a new uint8 tensor. A copy,
// not a memory map: a map of a file that is truncated later faults (SIGBUS) on the next read,
// and one rewritten later changes the tensors. Only regular files: a FIFO would block (hence
// O_NONBLOCK on open) and a device such as /dev/zero never ends.
RN_BINDING(ReadFile) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  int64_t bytes = IntArg(info, 1, "bytes");
  if (bytes < 0) throw Napi::RangeError::New(env, "bytes must not be negative");
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, "cannot open " + path + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Napi::Error::New(env, "cannot stat " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Napi::Error::New(env, path + " is not a regular file");
  if (st.st_size < bytes) {
    throw Napi::Error::New(env, path + " holds " + std::to_string(st.st_size) + " bytes, fewer than the " + std::to_string(bytes) + " expected");
  }
  torch::Tensor t = torch::empty({bytes}, torch::TensorOptions().dtype(torch::kUInt8));
  auto* out = static_cast<uint8_t*>(t.data_ptr());
  int64_t done = 0;
  while (done < bytes) {
    ssize_t n = ::pread(fd, out + done, static_cast<size_t>(bytes - done), done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Napi::Error::New(env, "cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) throw Napi::Error::New(env, path + " ended after " + std::to_string(done) + " of " + std::to_string(bytes) + " bytes");
    done += n;
  }
  return WrapTensor(env, t);
}

// writeTensorsFile(target, temporary, head, tensors) -> Promise: writes `head` then each tensor's
// bytes (C order) to `temporary`, fsyncs it and renames it over `target`, on a thread of its own.
// The tensors are copied now (training goes on changing them); the copies are libtorch's, freed
// when the file is written, so a checkpoint's bytes never pass through JavaScript's heap, and the
// file lands whether or not the calling thread's event loop turns. Only the promise waits for it.
RN_BINDING(WriteTensorsFile) {
  Napi::Env env = info.Env();
  std::string target = StringArg(info, 0, "target");
  std::string temporary = StringArg(info, 1, "temporary");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowExpected(env, "a Uint8Array", "head", info[2]);
  }
  auto head = info[2].As<Napi::Uint8Array>();
  std::string headBytes(reinterpret_cast<const char*>(head.Data()), head.ByteLength());
  std::vector<torch::Tensor> copies;
  for (auto& t : TensorListArg(info, 3, "tensors")) copies.push_back(t.detach().to(torch::kCPU).contiguous().clone());
  auto deferred = Napi::Promise::Deferred::New(env);
  auto done = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "writeTensorsFile", 0, 1);
  std::thread([target, temporary, headBytes = std::move(headBytes), copies = std::move(copies), deferred, done]() mutable {
    std::string error;
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      error = "cannot create " + temporary + ": " + std::strerror(errno);
    } else {
      auto writeAll = [&](const char* data, size_t n) {
        while (n > 0 && error.empty()) {
          ssize_t w = ::write(fd, data, n);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) error = "cannot write " + temporary + ": " + std::strerror(errno);
          else data += w, n -= static_cast<size_t>(w);
        }
      };
      writeAll(headBytes.data(), headBytes.size());
      for (auto& t : copies) writeAll(static_cast<const char*>(t.data_ptr()), t.nbytes());
      copies.clear();  // freed here, as soon as written
      if (error.empty() && ::fsync(fd) != 0) error = "cannot flush " + temporary + ": " + std::strerror(errno);
      if (::close(fd) != 0 && error.empty()) error = "cannot close " + temporary + ": " + std::strerror(errno);
      if (error.empty() && ::rename(temporary.c_str(), target.c_str()) != 0) error = "cannot rename " + temporary + " to " + target + ": " + std::strerror(errno);
      if (!error.empty()) ::unlink(temporary.c_str());
    }
    copies.clear();
    // (a caller whose thread has ended meanwhile is not told: the call is refused, and that is all)
    done.BlockingCall([deferred, error](Napi::Env env, Napi::Function) {
      if (error.empty()) deferred.Resolve(env.Undefined());
      else deferred.Reject(Napi::Error::New(env, error).Value());
    });
    done.Release();
  }).detach();
  return deferred.Promise();
}

// viewAs(t, dtype, shape): reinterprets a contiguous uint8 tensor's bytes as `dtype` [shape]
// without copying (the byte offset must be a multiple of the element size).
RN_BINDING(ViewAs) {
  torch::Tensor& t = TensorArg(info, 0, "tensor");
  torch::Dtype dtype = DtypeFromName(info.Env(), StringArg(info, 1, "dtype"));
  return WrapTensor(info.Env(), t.view(dtype).view(IntListArg(info, 2, "shape")));
}

// toBytes(t): the elements' raw little-endian bytes in C order (a copy).
RN_BINDING(ToBytes) {
  torch::Tensor t = TensorArg(info, 0, "tensor").detach().to(torch::kCPU).contiguous();
  auto out = Napi::Uint8Array::New(info.Env(), t.nbytes());
  if (t.nbytes() > 0) std::memcpy(out.Data(), t.data_ptr(), t.nbytes());
  return out;
}

// toArray(t): a copy of the elements, in C order, in the matching TypedArray (float16/bfloat16
// as Float32Array, bool as Uint8Array).
RN_BINDING(ToArray) {
  Napi::Env env = info.Env();
  torch::Tensor t = TensorArg(info, 0, "tensor").detach();
  torch::Dtype target;
  napi_typedarray_type kind;
  switch (t.scalar_type()) {
    case torch::kFloat64: target = torch::kFloat64; kind = napi_float64_array; break;
    case torch::kInt32: target = torch::kInt32; kind = napi_int32_array; break;
    case torch::kInt64: target = torch::kInt64; kind = napi_bigint64_array; break;
    case torch::kUInt8:
    case torch::kBool: target = torch::kUInt8; kind = napi_uint8_array; break;
    case torch::kInt16:
    case torch::kInt8: target = torch::kInt32; kind = napi_int32_array; break;
    default: target = torch::kFloat32; kind = napi_float32_array; break;
  }
  t = t.to(torch::kCPU, target).contiguous();
  size_t n = static_cast<size_t>(t.numel());
  auto buffer = Napi::ArrayBuffer::New(env, t.nbytes());
  if (n > 0) std::memcpy(buffer.Data(), t.data_ptr(), t.nbytes());
  switch (kind) {
    case napi_float64_array: return Napi::Float64Array::New(env, n, buffer, 0);
    case napi_int32_array: return Napi::Int32Array::New(env, n, buffer, 0);
    case napi_bigint64_array: return Napi::BigInt64Array::New(env, n, buffer, 0);
    case napi_uint8_array: return Napi::Uint8Array::New(env, n, buffer, 0);
    default: return Napi::Float32Array::New(env, n, buffer, 0);
  }
}

RN_BINDING(Item) {
  torch::Tensor& t = TensorArg(info, 0, "tensor");
  if (t.numel() != 1) {
    throw Napi::RangeError::New(info.Env(), "item() needs a tensor with exactly one element, got shape " +
                                                c10::str(t.sizes()));
  }
  return Napi::Number::New(info.Env(), t.item<double>());  // bool as 0/1, int64 rounded to double
}

// ---- factories: (shape, dtype, device, requiresGrad) + extras -----------------------------

torch::TensorOptions OptionsArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  auto options = torch::TensorOptions();
  if (!IsMissing(info, i)) options = options.dtype(DtypeFromName(env, StringArg(info, i, "dtype")));
  if (!IsMissing(info, i + 1)) options = options.device(DeviceFromName(env, StringArg(info, i + 1, "device")));
  if (!IsMissing(info, i + 2)) options = options.requires_grad(BoolArg(info, i + 2, "requiresGrad"));
  return options;
}

RN_BINDING(Zeros) { return WrapTensor(info.Env(), torch::zeros(IntListArg(info, 0, "shape"), OptionsArg(info, 1))); }
RN_BINDING(Ones) { return WrapTensor(info.Env(), torch::ones(IntListArg(info, 0, "shape"), OptionsArg(info, 1))); }
RN_BINDING(Rand) { return WrapTensor(info.Env(), torch::rand(IntListArg(info, 0, "shape"), OptionsArg(info, 1))); }
RN_BINDING(Randn) { return WrapTensor(info.Env(), torch::randn(IntListArg(info, 0, "shape"), OptionsArg(info, 1))); }
// full(shape, value, dtype, device, requiresGrad)
RN_BINDING(Full) {
  return WrapTensor(info.Env(), torch::full(IntListArg(info, 0, "shape"), NumberArg(info, 1, "value"), OptionsArg(info, 2)));
}
// randint(low, high, shape, dtype, device)
RN_BINDING(Randint) {
  auto options = OptionsArg(info, 3);
  if (IsMissing(info, 3)) options = options.dtype(torch::kInt64);
  return WrapTensor(info.Env(), torch::randint(IntArg(info, 0, "low"), IntArg(info, 1, "high"),
                                               IntListArg(info, 2, "shape"), options));
}
// arange(start, end, step, dtype, device)
RN_BINDING(Arange) {
  return WrapTensor(info.Env(), torch::arange(NumberArg(info, 0, "start"), NumberArg(info, 1, "end"),
                                              NumberArg(info, 2, "step"), OptionsArg(info, 3)));
}

// liveTensors(): what JavaScript handles on this thread keep alive.
RN_BINDING(LiveTensors) {
  Accounting& acc = *Instance(info.Env()).accounting;
  auto out = Napi::Object::New(info.Env());
  out.Set("tensors", Napi::Number::New(info.Env(), double(acc.tensors)));
  out.Set("bytes", Napi::Number::New(info.Env(), double(acc.bytes)));
  out.Set("releasedByGc", Napi::Number::New(info.Env(), double(acc.releasedByGc)));
  // V8's own running total of external memory, which includes what we reported to it.
  out.Set("v8ExternalBytes", Napi::Number::New(info.Env(), double(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0))));
  return out;
}

}  // namespace

bool IsTensor(Napi::Value v) { return UnwrapTensor(v) != nullptr; }

// An object that is not a handle (a forged one, or the TypeScript wrapper) is named as such.
[[noreturn]] static void ThrowNotTensor(Napi::Env env, const std::string& name, Napi::Value v) {
  ThrowExpected(env, v.IsObject() ? "a Tensor handle made by resnet-native" : "a Tensor", name, v);
}

torch::Tensor& TensorArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Tensor* t = UnwrapTensor(info[i]);
  if (t == nullptr) ThrowNotTensor(info.Env(), name, info[i]);
  return t->Get(info.Env(), name);
}

std::optional<torch::Tensor> OptionalTensorArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (IsMissing(info, i)) return std::nullopt;
  return TensorArg(info, i, name);
}

torch::Tensor& TensorValue(Napi::Env env, Napi::Value v, const std::string& name) {
  Tensor* t = UnwrapTensor(v);
  if (t == nullptr) ThrowNotTensor(env, name, v);
  return t->Get(env, name.c_str());
}

std::vector<torch::Tensor> TensorListFromArray(Napi::Env env, Napi::Array array, const char* name) {
  std::vector<torch::Tensor> out;
  out.reserve(array.Length());
  for (uint32_t k = 0; k < array.Length(); ++k) {
    out.push_back(TensorValue(env, array.Get(k), std::string(name) + "[" + std::to_string(k) + "]"));
  }
  return out;
}

std::vector<torch::Tensor> TensorListArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsArray()) ThrowExpected(info.Env(), "an array of Tensors", name, info[i]);
  return TensorListFromArray(info.Env(), info[i].As<Napi::Array>(), name);
}

Napi::Value WrapTensor(Napi::Env env, torch::Tensor t) {
  InstanceData& data = Instance(env);
  data.pending = std::move(t);
  return data.tensorCtor.New({});
}

Napi::Value WrapTensors(Napi::Env env, const std::vector<torch::Tensor>& ts) {
  auto out = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) out.Set(i, WrapTensor(env, ts[i]));
  return out;
}

void InitTensor(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Tensor::Define(env);
  Instance(env).tensorCtor = Napi::Persistent(ctor);
  exports.Set("Tensor", ctor);
  exports.Set("fromArray", Napi::Function::New<FromArray>(env, "fromArray"));
  exports.Set("toArray", Napi::Function::New<ToArray>(env, "toArray"));
  exports.Set("fromBytes", Napi::Function::New<FromBytes>(env, "fromBytes"));
  exports.Set("toBytes", Napi::Function::New<ToBytes>(env, "toBytes"));
  exports.Set("readFile", Napi::Function::New<ReadFile>(env, "readFile"));
  exports.Set("writeTensorsFile", Napi::Function::New<WriteTensorsFile>(env, "writeTensorsFile"));
  exports.Set("viewAs", Napi::Function::New<ViewAs>(env, "viewAs"));
  exports.Set("item", Napi::Function::New<Item>(env, "item"));
  exports.Set("zeros", Napi::Function::New<Zeros>(env, "zeros"));
  exports.Set("ones", Napi::Function::New<Ones>(env, "ones"));
  exports.Set("full", Napi::Function::New<Full>(env, "full"));
  exports.Set("rand", Napi::Function::New<Rand>(env, "rand"));
  exports.Set("randn", Napi::Function::New<Randn>(env, "randn"));
  exports.Set("randint", Napi::Function::New<Randint>(env, "randint"));
  exports.Set("arange", Napi::Function::New<Arange>(env, "arange"));
  exports.Set("liveTensors", Napi::Function::New<LiveTensors>(env, "liveTensors"));
}

}  // namespace rn
