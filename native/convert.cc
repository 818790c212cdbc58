// Conversion of plain JavaScript values (numbers, lists, dtype and device names) to libtorch's.
#include <dlfcn.h>

#include <cmath>

#include "common.h"

#ifdef RN_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace rn {

// A short description of a JavaScript value, as src/errors.ts describes one.
static std::string Describe(Napi::Value v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsString()) {
    std::string text = v.As<Napi::String>().Utf8Value();
    if (text.size() > 40) text = text.substr(0, 40) + "...";
    return "'" + text + "' of type string";
  }
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) {
    Napi::Value ctor = v.As<Napi::Object>().Get("constructor");
    std::string type = ctor.IsFunction() ? ctor.As<Napi::Function>().Get("name").ToString().Utf8Value() : "object";
    return "an object of type " + (type.empty() ? std::string("object") : type);
  }
  std::string type = v.IsNumber() ? "number" : v.IsBoolean() ? "boolean" : v.IsBigInt() ? "bigint" : v.IsSymbol() ? "symbol" : "unknown";
  std::string text = v.IsSymbol() ? "a symbol" : v.ToString().Utf8Value();
  return text + " of type " + type;
}

void ThrowExpected(Napi::Env env, const std::string& expected, const std::string& name, Napi::Value received) {
  throw Napi::TypeError::New(env, "Expected " + expected + " for '" + name + "' but received " + Describe(received));
}

Napi::Value Prop(Napi::Object options, const char* key) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) ThrowType(options.Env(), std::string("Missing option '") + key + "'");
  return v;
}
int64_t IntProp(Napi::Object o, const char* key) {
  Napi::Value v = Prop(o, key);
  if (!v.IsNumber()) ThrowExpected(o.Env(), "an integer", std::string("option ") + key, v);
  return v.As<Napi::Number>().Int64Value();
}
double NumberProp(Napi::Object o, const char* key) {
  Napi::Value v = Prop(o, key);
  if (!v.IsNumber()) ThrowExpected(o.Env(), "a number", std::string("option ") + key, v);
  return v.As<Napi::Number>().DoubleValue();
}
bool BoolProp(Napi::Object o, const char* key) {
  Napi::Value v = Prop(o, key);
  if (!v.IsBoolean()) ThrowExpected(o.Env(), "a boolean", std::string("option ") + key, v);
  return v.As<Napi::Boolean>().Value();
}
std::string StringProp(Napi::Object o, const char* key) {
  Napi::Value v = Prop(o, key);
  if (!v.IsString()) ThrowExpected(o.Env(), "a string", std::string("option ") + key, v);
  return v.As<Napi::String>().Utf8Value();
}

bool IsMissing(const Napi::CallbackInfo& info, size_t i) {
  return i >= info.Length() || info[i].IsUndefined() || info[i].IsNull();
}

double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) ThrowExpected(info.Env(), "a number", name, info[i]);
  return info[i].As<Napi::Number>().DoubleValue();
}

std::optional<double> OptionalNumberArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (IsMissing(info, i)) return std::nullopt;
  return NumberArg(info, i, name);
}

static int64_t ToInt(Napi::Env env, Napi::Value v, const std::string& name) {
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) ThrowExpected(env, "a 64-bit integer", name, v);
    return r;
  }
  if (!v.IsNumber()) ThrowExpected(env, "an integer", name, v);
  double d = v.As<Napi::Number>().DoubleValue();
  // 2^63 itself rounds to a double that does not fit: the bounds are exclusive at the top.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != std::trunc(d)) ThrowExpected(env, "an integer", name, v);
  return static_cast<int64_t>(d);
}

int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* name) { return ToInt(info.Env(), info[i], name); }

bool BoolArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBoolean()) ThrowExpected(info.Env(), "a boolean", name, info[i]);
  return info[i].As<Napi::Boolean>().Value();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) ThrowExpected(info.Env(), "a string", name, info[i]);
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<int64_t> IntListValue(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsNumber() || v.IsBigInt()) return {ToInt(env, v, name)};
  if (!v.IsArray()) ThrowExpected(env, "an array of integers", name, v);
  auto array = v.As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t k = 0; k < array.Length(); ++k) {
    out[k] = ToInt(env, array.Get(k), std::string(name) + "[" + std::to_string(k) + "]");
  }
  return out;
}

std::vector<int64_t> IntListArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return IntListValue(info.Env(), info[i], name);
}

namespace {
const std::pair<const char*, torch::Dtype> kDtypes[] = {
    {"float32", torch::kFloat32}, {"float64", torch::kFloat64}, {"float16", torch::kFloat16},
    {"bfloat16", torch::kBFloat16}, {"int32", torch::kInt32}, {"int64", torch::kInt64},
    {"int16", torch::kInt16}, {"int8", torch::kInt8}, {"uint8", torch::kUInt8}, {"bool", torch::kBool},
};
}  // namespace

torch::Dtype DtypeFromName(Napi::Env env, const std::string& name) {
  for (const auto& [n, d] : kDtypes) {
    if (name == n) return d;
  }
  ThrowType(env, "Unknown dtype '" + name +
                     "'; expected one of float32, float64, float16, bfloat16, int32, int64, int16, int8, uint8, bool");
}

std::string DtypeName(torch::Dtype dtype) {
  for (const auto& [n, d] : kDtypes) {
    if (dtype == d) return n;
  }
  return c10::toString(dtype);
}

bool TorchHasCudaSupport() {
  // Present in the process only when the addon was linked against the CUDA build of libtorch.
  void* handle = dlopen("libtorch_cuda.so", RTLD_LAZY | RTLD_NOLOAD);
  if (handle != nullptr) dlclose(handle);
  return handle != nullptr;
}

std::string LoadedLibraryPath() {
  Dl_info dl{};
  if (dladdr(reinterpret_cast<void*>(&at::get_num_threads), &dl) != 0 && dl.dli_fname != nullptr) return dl.dli_fname;
  return "";
}

std::string LibtorchDir() {
  // <libtorch>/lib/libtorch_cpu.so -> <libtorch>
  std::string file = LoadedLibraryPath();
  for (int i = 0; i < 2; ++i) {
    auto slash = file.rfind('/');
    if (slash == std::string::npos) return file;
    file.resize(slash);
  }
  return file;
}

std::string CudaUnavailableReason() {
  if (!TorchHasCudaSupport()) {
#ifdef RN_WITH_CUDA
    return "the addon was built against a CUDA libtorch but libtorch_cuda.so is not loaded";
#else
    return "the addon was built against a CPU-only libtorch (" + LibtorchDir() + ")";
#endif
  }
#ifdef RN_WITH_CUDA
  try {
    c10::cuda::device_count_ensure_non_zero();
  } catch (const c10::Error& e) {
    return std::string("libtorch has CUDA support but: ") + e.what_without_backtrace();
  }
#endif
  if (torch::cuda::device_count() == 0) {
    return "libtorch has CUDA support but no CUDA device was found (no GPU or no NVIDIA driver)";
  }
  return "";
}

torch::Device DeviceFromName(Napi::Env env, const std::string& name) {
  torch::Device device(name);  // libtorch's parser; throws a c10::Error naming the bad string
  if (device.is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw Napi::Error::New(env, "Device '" + name + "' requested but CUDA is not available: " + CudaUnavailableReason());
    }
    int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count) {
      throw Napi::Error::New(env, "Device '" + name + "' requested but only " + std::to_string(count) +
                                      " CUDA device(s) exist");
    }
  } else if (!device.is_cpu()) {
    ThrowType(env, "Unsupported device '" + name + "'; use 'cpu', 'cuda' or 'cuda:N'");
  }
  return device;
}

std::string DeviceName(const torch::Device& device) { return device.str(); }

c10::MemoryFormat MemoryFormatFromName(Napi::Env env, const std::string& name) {
  if (name == "channels_last") return c10::MemoryFormat::ChannelsLast;
  if (name == "contiguous") return c10::MemoryFormat::Contiguous;
  ThrowType(env, "memoryFormat must be 'contiguous' or 'channels_last', got '" + name + "'");
}

}  // namespace rn
