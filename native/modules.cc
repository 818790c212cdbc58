// libtorch's own Conv2d / BatchNorm2d / Linear modules behind one small wrapper. Options arrive
// complete and validated from TypeScript (src/nn/layers.ts), which also owns the defaults.
#include "common.h"

namespace rn {
namespace {

torch::ExpandingArray<2> PairProp(Napi::Object o, const char* key) {
  auto list = IntListValue(o.Env(), Prop(o, key), key);
  if (list.size() == 1) list.push_back(list[0]);
  if (list.size() != 2) ThrowType(o.Env(), std::string("Option '") + key + "' must be one or two integers");
  return torch::ExpandingArray<2>({list[0], list[1]});
}

torch::nn::Conv2d MakeConv2d(Napi::Object o) {
  auto options = torch::nn::Conv2dOptions(IntProp(o, "inChannels"), IntProp(o, "outChannels"), PairProp(o, "kernelSize"))
                     .stride(PairProp(o, "stride"))
                     .padding(PairProp(o, "padding"))
                     .dilation(PairProp(o, "dilation"))
                     .groups(IntProp(o, "groups"))
                     .bias(BoolProp(o, "bias"));
  return torch::nn::Conv2d(options);
}

torch::nn::BatchNorm2d MakeBatchNorm2d(Napi::Object o) {
  auto options = torch::nn::BatchNorm2dOptions(IntProp(o, "numFeatures"))
                     .eps(NumberProp(o, "eps"))
                     .affine(BoolProp(o, "affine"))
                     .track_running_stats(BoolProp(o, "trackRunningStats"));
  // null momentum = cumulative moving average, as in PyTorch
  Napi::Value momentum = Prop(o, "momentum");
  if (momentum.IsNull()) options.momentum(std::nullopt);
  else options.momentum(NumberProp(o, "momentum"));
  return torch::nn::BatchNorm2d(options);
}

torch::nn::Linear MakeLinear(Napi::Object o) {
  return torch::nn::Linear(
      torch::nn::LinearOptions(IntProp(o, "inFeatures"), IntProp(o, "outFeatures")).bias(BoolProp(o, "bias")));
}

template <typename Holder, Holder (*Make)(Napi::Object)>
class ModuleWrap : public Napi::ObjectWrap<ModuleWrap<Holder, Make>> {
  using Base = Napi::ObjectWrap<ModuleWrap<Holder, Make>>;

 public:
  static Napi::Function Define(Napi::Env env, const char* name) {
    return Base::DefineClass(env, name,
                             {
                                 Base::template InstanceMethod<&ModuleWrap::Forward>("forward"),
                                 Base::template InstanceMethod<&ModuleWrap::Train>("train"),
                                 Base::template InstanceAccessor<&ModuleWrap::IsTraining>("training"),
                                 Base::template InstanceMethod<&ModuleWrap::NamedParameters>("namedParameters"),
                                 Base::template InstanceMethod<&ModuleWrap::NamedBuffers>("namedBuffers"),
                                 Base::template InstanceMethod<&ModuleWrap::To>("to"),
                                 Base::template InstanceMethod<&ModuleWrap::ToMemoryFormat>("toMemoryFormat"),
                                 Base::template InstanceMethod<&ModuleWrap::Dispose>("dispose"),
                                 Base::template InstanceAccessor<&ModuleWrap::IsDisposed>("isDisposed"),
                             });
  }

  explicit ModuleWrap(const Napi::CallbackInfo& info) : Base(info) {
    Protect(info.Env(), [&] {
      if (!info[0].IsObject()) ThrowExpected(info.Env(), "an options object", "options", info[0]);
      module_ = Make(info[0].As<Napi::Object>());
      return 0;
    });
  }

 private:
  // The libtorch module, or an error once dispose() has released it.
  Holder& Get(Napi::Env env) {
    if (module_.is_empty()) throw Napi::Error::New(env, "This module has been disposed and cannot be used");
    return module_;
  }
  // dispose(): drops the module's references to its parameters and buffers now (the memory goes
  // once no tensor handle shares it). Idempotent.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    module_ = Holder(nullptr);
    return info.Env().Undefined();
  }
  Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), module_.is_empty()); }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] { return WrapTensor(info.Env(), Get(info.Env())->forward(TensorArg(info, 0, "input"))); });
  }
  Napi::Value Train(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      Get(info.Env())->train(BoolArg(info, 0, "on"));
      return info.Env().Undefined();
    });
  }
  Napi::Value IsTraining(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] { return Napi::Boolean::New(info.Env(), Get(info.Env())->is_training()); });
  }

  // [[name, Tensor], ...] in registration order (weight before bias, as in PyTorch).
  template <typename Dict>
  static Napi::Value Entries(Napi::Env env, const Dict& dict) {
    auto out = Napi::Array::New(env, dict.size());
    uint32_t i = 0;
    for (const auto& item : dict) {
      auto pair = Napi::Array::New(env, 2);
      pair.Set(0u, Napi::String::New(env, item.key()));
      pair.Set(1u, WrapTensor(env, item.value()));
      out.Set(i++, pair);
    }
    return out;
  }
  Napi::Value NamedParameters(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] { return Entries(info.Env(), Get(info.Env())->named_parameters(false)); });
  }
  Napi::Value NamedBuffers(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] { return Entries(info.Env(), Get(info.Env())->named_buffers(false)); });
  }
  // to(device|null, dtype|null): moves parameters and buffers in place (set_data), so existing
  // handles to them stay valid. A dtype converts the floating-point ones only, as PyTorch's
  // Module.to does (libtorch's would also convert BatchNorm's integer step count).
  Napi::Value To(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      Napi::Env env = info.Env();
      Holder& module = Get(env);
      if (!IsMissing(info, 0)) module->to(DeviceFromName(env, StringArg(info, 0, "device")));
      if (!IsMissing(info, 1)) {
        torch::Dtype dtype = DtypeFromName(env, StringArg(info, 1, "dtype"));
        if (!c10::isFloatingType(dtype)) ThrowType(env, "modules convert to floating-point dtypes only");
        torch::NoGradGuard noGrad;
        for (auto& t : module->parameters()) {
          if (t.is_floating_point()) t.set_data(t.to(dtype));
        }
        for (auto& t : module->buffers()) {
          if (t.is_floating_point()) t.set_data(t.to(dtype));
        }
      }
      return env.Undefined();
    });
  }

  // toMemoryFormat('channels_last' | 'contiguous'): re-lays 4-D parameters in place (set_data),
  // so existing handles stay valid.
  Napi::Value ToMemoryFormat(const Napi::CallbackInfo& info) {
    return Protect(info.Env(), [&] {
      c10::MemoryFormat format = MemoryFormatFromName(info.Env(), StringArg(info, 0, "memoryFormat"));
      torch::NoGradGuard noGrad;
      for (auto& p : Get(info.Env())->parameters()) {
        if (p.dim() == 4) p.set_data(p.contiguous(format));
      }
      return info.Env().Undefined();
    });
  }

  Holder module_{nullptr};
};

}  // namespace

void InitModules(Napi::Env env, Napi::Object exports) {
  exports.Set("Conv2d", ModuleWrap<torch::nn::Conv2d, MakeConv2d>::Define(env, "Conv2d"));
  exports.Set("BatchNorm2d", ModuleWrap<torch::nn::BatchNorm2d, MakeBatchNorm2d>::Define(env, "BatchNorm2d"));
  exports.Set("Linear", ModuleWrap<torch::nn::Linear, MakeLinear>::Define(env, "Linear"));
}

}  // namespace rn
