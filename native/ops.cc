// Functional ops: convert arguments, call the ATen op, wrap the result. Nothing else.
#include "common.h"

namespace rn {
namespace {

using torch::Tensor;
namespace F = torch::nn::functional;

Napi::Value Wrap(const Napi::CallbackInfo& info, Tensor t) { return WrapTensor(info.Env(), std::move(t)); }

// The second operand of an elementwise op: a Tensor or a number.
bool IsScalarOperand(const Napi::CallbackInfo& info, size_t i) { return info[i].IsNumber(); }
double AlphaArg(const Napi::CallbackInfo& info, size_t i) {
  return IsMissing(info, i) ? 1.0 : NumberArg(info, i, "alpha");
}

// ---- elementwise ----
RN_BINDING(Add) {
  Tensor& a = TensorArg(info, 0, "input");
  double alpha = AlphaArg(info, 2);
  if (IsScalarOperand(info, 1)) return Wrap(info, torch::add(a, NumberArg(info, 1, "other"), alpha));
  return Wrap(info, torch::add(a, TensorArg(info, 1, "other"), alpha));
}
RN_BINDING(Sub) {
  Tensor& a = TensorArg(info, 0, "input");
  double alpha = AlphaArg(info, 2);
  if (IsScalarOperand(info, 1)) return Wrap(info, torch::sub(a, NumberArg(info, 1, "other"), alpha));
  return Wrap(info, torch::sub(a, TensorArg(info, 1, "other"), alpha));
}
RN_BINDING(Mul) {
  Tensor& a = TensorArg(info, 0, "input");
  if (IsScalarOperand(info, 1)) return Wrap(info, torch::mul(a, NumberArg(info, 1, "other")));
  return Wrap(info, torch::mul(a, TensorArg(info, 1, "other")));
}
RN_BINDING(Div) {
  Tensor& a = TensorArg(info, 0, "input");
  if (IsScalarOperand(info, 1)) return Wrap(info, torch::div(a, NumberArg(info, 1, "other")));
  return Wrap(info, torch::div(a, TensorArg(info, 1, "other")));
}
RN_BINDING(Eq) {
  Tensor& a = TensorArg(info, 0, "input");
  if (IsScalarOperand(info, 1)) return Wrap(info, torch::eq(a, NumberArg(info, 1, "other")));
  return Wrap(info, torch::eq(a, TensorArg(info, 1, "other")));
}
RN_BINDING(Neg) { return Wrap(info, torch::neg(TensorArg(info, 0, "input"))); }
RN_BINDING(Sqrt) { return Wrap(info, torch::sqrt(TensorArg(info, 0, "input"))); }
RN_BINDING(Relu) { return Wrap(info, torch::relu(TensorArg(info, 0, "input"))); }
RN_BINDING(ReluInPlace) {
  TensorArg(info, 0, "input").relu_();
  return info[0];
}
// clamp(x, min|null, max|null)
RN_BINDING(Clamp) {
  auto lo = OptionalNumberArg(info, 1, "min");
  auto hi = OptionalNumberArg(info, 2, "max");
  std::optional<c10::Scalar> min, max;
  if (lo) min = *lo;
  if (hi) max = *hi;
  return Wrap(info, torch::clamp(TensorArg(info, 0, "input"), min, max));
}

// ---- in place (what an optimizer needs) ----
RN_BINDING(MulInPlace) {
  Tensor& a = TensorArg(info, 0, "input");
  if (IsScalarOperand(info, 1)) a.mul_(NumberArg(info, 1, "other"));
  else a.mul_(TensorArg(info, 1, "other"));
  return info[0];
}
RN_BINDING(DivInPlace) {
  Tensor& a = TensorArg(info, 0, "input");
  if (IsScalarOperand(info, 1)) a.div_(NumberArg(info, 1, "other"));
  else a.div_(TensorArg(info, 1, "other"));
  return info[0];
}
RN_BINDING(AddInPlace) {
  Tensor& a = TensorArg(info, 0, "input");
  double alpha = AlphaArg(info, 2);
  if (IsScalarOperand(info, 1)) a.add_(NumberArg(info, 1, "other"), alpha);
  else a.add_(TensorArg(info, 1, "other"), alpha);
  return info[0];
}
RN_BINDING(CopyInPlace) {
  TensorArg(info, 0, "input").copy_(TensorArg(info, 1, "source"));
  return info[0];
}
RN_BINDING(ZeroInPlace) {
  TensorArg(info, 0, "input").zero_();
  return info[0];
}

// ---- multi-tensor ("foreach") forms: one call updates a whole list of tensors ----
// foreachAdd_(tensors, others, alpha): tensors[i] += alpha * others[i]
RN_BINDING(ForeachAddInPlace) {
  at::_foreach_add_(TensorListArg(info, 0, "tensors"), TensorListArg(info, 1, "others"), NumberArg(info, 2, "alpha"));
  return info.Env().Undefined();
}
// foreachAdd(tensors, others, alpha) -> new list
RN_BINDING(ForeachAdd) {
  return WrapTensors(info.Env(), at::_foreach_add(TensorListArg(info, 0, "tensors"), TensorListArg(info, 1, "others"),
                                                  NumberArg(info, 2, "alpha")));
}
// foreachMul_(tensors, scalar | tensor); a 0-dim tensor factor is read on the device (gradient
// clipping's coefficient, computed there without a synchronisation).
RN_BINDING(ForeachMulInPlace) {
  auto tensors = TensorListArg(info, 0, "tensors");
  if (IsTensor(info[1])) at::_foreach_mul_(tensors, TensorArg(info, 1, "factor"));
  else at::_foreach_mul_(tensors, NumberArg(info, 1, "factor"));
  return info.Env().Undefined();
}

// foreachMul(tensors, scalar | tensor) -> new list; a 0-dim tensor factor lets a captured CUDA
// graph read a value (the learning rate) that changes between replays.
RN_BINDING(ForeachMul) {
  auto tensors = TensorListArg(info, 0, "tensors");
  if (IsTensor(info[1])) return WrapTensors(info.Env(), at::_foreach_mul(tensors, TensorArg(info, 1, "factor")));
  return WrapTensors(info.Env(), at::_foreach_mul(tensors, NumberArg(info, 1, "factor")));
}

// The rest of what torch.optim's multi-tensor Adam / AdamW calls, with one scalar for the list.
// foreachLerp_(tensors, ends, weight): tensors[i] += weight * (ends[i] - tensors[i])
RN_BINDING(ForeachLerpInPlace) {
  at::_foreach_lerp_(TensorListArg(info, 0, "tensors"), TensorListArg(info, 1, "ends"), NumberArg(info, 2, "weight"));
  return info.Env().Undefined();
}
// foreachAddcmul_(tensors, a, b, value): tensors[i] += value * a[i] * b[i]
RN_BINDING(ForeachAddcmulInPlace) {
  at::_foreach_addcmul_(TensorListArg(info, 0, "tensors"), TensorListArg(info, 1, "a"), TensorListArg(info, 2, "b"),
                        NumberArg(info, 3, "value"));
  return info.Env().Undefined();
}
// foreachAddcdiv_(tensors, a, b, value): tensors[i] += value * a[i] / b[i]
RN_BINDING(ForeachAddcdivInPlace) {
  at::_foreach_addcdiv_(TensorListArg(info, 0, "tensors"), TensorListArg(info, 1, "a"), TensorListArg(info, 2, "b"),
                        NumberArg(info, 3, "value"));
  return info.Env().Undefined();
}
// foreachSqrt(tensors) -> new list
RN_BINDING(ForeachSqrt) { return WrapTensors(info.Env(), at::_foreach_sqrt(TensorListArg(info, 0, "tensors"))); }
// foreachDivScalar_(tensors, scalar): tensors[i] /= scalar
RN_BINDING(ForeachDivScalarInPlace) {
  at::_foreach_div_(TensorListArg(info, 0, "tensors"), NumberArg(info, 1, "scalar"));
  return info.Env().Undefined();
}
// foreachAddScalar_(tensors, scalar): tensors[i] += scalar
RN_BINDING(ForeachAddScalarInPlace) {
  at::_foreach_add_(TensorListArg(info, 0, "tensors"), NumberArg(info, 1, "scalar"));
  return info.Env().Undefined();
}

// foreachNorm(tensors, ord) -> new list of 0-dim norms (what clip_grad_norm_ sums up)
RN_BINDING(ForeachNorm) {
  return WrapTensors(info.Env(), at::_foreach_norm(TensorListArg(info, 0, "tensors"), NumberArg(info, 1, "ord")));
}
// foreachCopy_(tensors, sources): tensors[i].copy_(sources[i]), casting as copy_ does
RN_BINDING(ForeachCopyInPlace) {
  at::_foreach_copy_(TensorListArg(info, 0, "tensors"), TensorListArg(info, 1, "sources"));
  return info.Env().Undefined();
}

// ---- loss scaling (the kernels behind torch.amp.GradScaler; both run on the device) ----
// ampUnscale_(grads, foundInf, invScale): grads[i] *= invScale; foundInf := 1 if any is inf/NaN.
RN_BINDING(AmpUnscaleInPlace) {
  at::_amp_foreach_non_finite_check_and_unscale_(TensorListArg(info, 0, "grads"), TensorArg(info, 1, "foundInf"),
                                                 TensorArg(info, 2, "invScale"));
  return info.Env().Undefined();
}
// ampUpdateScale_(scale, growthTracker, foundInf, growthFactor, backoffFactor, growthInterval)
RN_BINDING(AmpUpdateScaleInPlace) {
  at::_amp_update_scale_(TensorArg(info, 0, "scale"), TensorArg(info, 1, "growthTracker"), TensorArg(info, 2, "foundInf"),
                         NumberArg(info, 3, "growthFactor"), NumberArg(info, 4, "backoffFactor"),
                         IntArg(info, 5, "growthInterval"));
  return info.Env().Undefined();
}

// ---- in-place initialisation (the random ones draw from libtorch's seeded generator) ----
RN_BINDING(NormalInPlace) {
  TensorArg(info, 0, "input").normal_(NumberArg(info, 1, "mean"), NumberArg(info, 2, "std"));
  return info[0];
}
RN_BINDING(UniformInPlace) {
  TensorArg(info, 0, "input").uniform_(NumberArg(info, 1, "from"), NumberArg(info, 2, "to"));
  return info[0];
}
RN_BINDING(FillInPlace) {
  TensorArg(info, 0, "input").fill_(NumberArg(info, 1, "value"));
  return info[0];
}

// ---- reductions ----
// sum/mean(x, dims|null, keepdim)
RN_BINDING(Sum) {
  Tensor& x = TensorArg(info, 0, "input");
  if (IsMissing(info, 1)) return Wrap(info, x.sum());
  return Wrap(info, x.sum(IntListArg(info, 1, "dim"), BoolArg(info, 2, "keepdim")));
}
RN_BINDING(Mean) {
  Tensor& x = TensorArg(info, 0, "input");
  if (IsMissing(info, 1)) return Wrap(info, x.mean());
  return Wrap(info, x.mean(IntListArg(info, 1, "dim"), BoolArg(info, 2, "keepdim")));
}
// argmax(x, dim|null, keepdim)
RN_BINDING(Argmax) {
  Tensor& x = TensorArg(info, 0, "input");
  std::optional<int64_t> dim;
  if (!IsMissing(info, 1)) dim = IntArg(info, 1, "dim");
  return Wrap(info, torch::argmax(x, dim, BoolArg(info, 2, "keepdim")));
}
RN_BINDING(Softmax) { return Wrap(info, torch::softmax(TensorArg(info, 0, "input"), IntArg(info, 1, "dim"))); }
RN_BINDING(LogSoftmax) {
  return Wrap(info, torch::log_softmax(TensorArg(info, 0, "input"), IntArg(info, 1, "dim")));
}
// crossEntropy(logits, target, labelSmoothing, reduction)
RN_BINDING(CrossEntropy) {
  std::string reduction = StringArg(info, 3, "reduction");
  int64_t r = reduction == "mean"  ? at::Reduction::Mean
              : reduction == "sum" ? at::Reduction::Sum
              : reduction == "none"
                  ? at::Reduction::None
                  : throw Napi::TypeError::New(info.Env(), "reduction must be 'mean', 'sum' or 'none', got '" + reduction + "'");
  return Wrap(info, at::cross_entropy_loss(TensorArg(info, 0, "input"), TensorArg(info, 1, "target"), {}, r, -100,
                                           NumberArg(info, 2, "labelSmoothing")));
}

// ---- shape ----
RN_BINDING(Reshape) { return Wrap(info, TensorArg(info, 0, "input").reshape(IntListArg(info, 1, "shape"))); }
RN_BINDING(View) { return Wrap(info, TensorArg(info, 0, "input").view(IntListArg(info, 1, "shape"))); }
RN_BINDING(Flatten) {
  return Wrap(info, torch::flatten(TensorArg(info, 0, "input"), IntArg(info, 1, "startDim"), IntArg(info, 2, "endDim")));
}
RN_BINDING(Permute) { return Wrap(info, TensorArg(info, 0, "input").permute(IntListArg(info, 1, "dims"))); }
RN_BINDING(Transpose) {
  return Wrap(info, TensorArg(info, 0, "input").transpose(IntArg(info, 1, "dim0"), IntArg(info, 2, "dim1")));
}
// asStrided(x, size, stride, offset): a view of x's storage, as torch.as_strided
RN_BINDING(AsStrided) {
  return Wrap(info, TensorArg(info, 0, "input").as_strided(IntListArg(info, 1, "size"), IntListArg(info, 2, "stride"),
                                                           IntArg(info, 3, "storageOffset")));
}
RN_BINDING(Contiguous) { return Wrap(info, TensorArg(info, 0, "input").contiguous()); }
// contiguousIn(x, 'channels_last' | 'contiguous'), isContiguousIn(x, format)
c10::MemoryFormat MemoryFormatArg(const Napi::CallbackInfo& info, size_t i) {
  return MemoryFormatFromName(info.Env(), StringArg(info, i, "memoryFormat"));
}
RN_BINDING(ContiguousIn) { return Wrap(info, TensorArg(info, 0, "input").contiguous(MemoryFormatArg(info, 1))); }
RN_BINDING(IsContiguousIn) {
  return Napi::Boolean::New(info.Env(), TensorArg(info, 0, "input").is_contiguous(MemoryFormatArg(info, 1)));
}
RN_BINDING(Clone) { return Wrap(info, TensorArg(info, 0, "input").clone()); }
RN_BINDING(Cat) { return Wrap(info, torch::cat(TensorListArg(info, 0, "tensors"), IntArg(info, 1, "dim"))); }
RN_BINDING(Stack) { return Wrap(info, torch::stack(TensorListArg(info, 0, "tensors"), IntArg(info, 1, "dim"))); }
RN_BINDING(Narrow) {
  return Wrap(info, TensorArg(info, 0, "input").narrow(IntArg(info, 1, "dim"), IntArg(info, 2, "start"),
                                                       IntArg(info, 3, "length")));
}
RN_BINDING(IndexSelect) {
  return Wrap(info, torch::index_select(TensorArg(info, 0, "input"), IntArg(info, 1, "dim"), TensorArg(info, 2, "index")));
}
RN_BINDING(Gather) {
  return Wrap(info, torch::gather(TensorArg(info, 0, "input"), IntArg(info, 1, "dim"), TensorArg(info, 2, "index")));
}
RN_BINDING(Flip) { return Wrap(info, torch::flip(TensorArg(info, 0, "input"), IntListArg(info, 1, "dims"))); }
// index(x, indices): advanced indexing x[i0, i1, ...] with a Tensor or null (a full slice) per
// leading dimension, as torch's x[idx0, :, idx2].
RN_BINDING(Index) {
  if (!info[1].IsArray()) ThrowExpected(info.Env(), "an array of Tensors or nulls", "indices", info[1]);
  auto array = info[1].As<Napi::Array>();
  c10::List<std::optional<Tensor>> indices;
  for (uint32_t k = 0; k < array.Length(); ++k) {
    Napi::Value v = array.Get(k);
    if (v.IsNull() || v.IsUndefined()) {
      indices.push_back(std::nullopt);
    } else if (IsTensor(v)) {
      indices.push_back(std::optional<Tensor>(TensorValue(info.Env(), v, "indices[" + std::to_string(k) + "]")));
    } else {
      ThrowExpected(info.Env(), "a Tensor or null", "indices[" + std::to_string(k) + "]", v);
    }
  }
  return Wrap(info, at::index(TensorArg(info, 0, "input"), indices));
}
// upsampleBilinear2d(x, [h, w], alignCorners)
RN_BINDING(UpsampleBilinear2d) {
  return Wrap(info, at::upsample_bilinear2d(TensorArg(info, 0, "input"), IntListArg(info, 1, "size"),
                                            BoolArg(info, 2, "alignCorners")));
}
// pad(x, pads, value): constant padding, pads as in F.pad (last dim first, may be asymmetric)
RN_BINDING(Pad) {
  return Wrap(info, torch::constant_pad_nd(TensorArg(info, 0, "input"), IntListArg(info, 1, "pad"),
                                           NumberArg(info, 2, "value")));
}
// to(x, device|null, dtype|null, nonBlocking?): nonBlocking copies from pinned host memory
// without waiting for the device (a plain host-to-device copy waits for the stream to drain).
RN_BINDING(To) {
  Tensor& x = TensorArg(info, 0, "input");
  Napi::Env env = info.Env();
  torch::Device device = IsMissing(info, 1) ? x.device() : DeviceFromName(env, StringArg(info, 1, "device"));
  torch::Dtype dtype = IsMissing(info, 2) ? x.scalar_type() : DtypeFromName(env, StringArg(info, 2, "dtype"));
  bool nonBlocking = IsMissing(info, 3) ? false : BoolArg(info, 3, "nonBlocking");
  return Wrap(info, x.to(device, dtype, nonBlocking));
}
// pinMemory(x): a copy in page-locked host memory (CUDA builds with a GPU; libtorch's error otherwise)
RN_BINDING(PinMemory) { return Wrap(info, TensorArg(info, 0, "input").pin_memory()); }

// ---- linear algebra and network layers ----
RN_BINDING(Matmul) { return Wrap(info, torch::matmul(TensorArg(info, 0, "input"), TensorArg(info, 1, "other"))); }
// linear(x, weight, bias|null)
RN_BINDING(Linear) {
  return Wrap(info, torch::linear(TensorArg(info, 0, "input"), TensorArg(info, 1, "weight"),
                                  OptionalTensorArg(info, 2, "bias")));
}
// conv2d(x, weight, bias|null, stride, padding, dilation, groups)
RN_BINDING(Conv2d) {
  return Wrap(info, torch::conv2d(TensorArg(info, 0, "input"), TensorArg(info, 1, "weight"),
                                  OptionalTensorArg(info, 2, "bias"), IntListArg(info, 3, "stride"),
                                  IntListArg(info, 4, "padding"), IntListArg(info, 5, "dilation"),
                                  IntArg(info, 6, "groups")));
}
// batchNorm(x, runningMean|null, runningVar|null, weight|null, bias|null, training, momentum, eps)
RN_BINDING(BatchNorm) {
  return Wrap(info, torch::batch_norm(TensorArg(info, 0, "input"), OptionalTensorArg(info, 3, "weight"),
                                      OptionalTensorArg(info, 4, "bias"), OptionalTensorArg(info, 1, "runningMean"),
                                      OptionalTensorArg(info, 2, "runningVar"), BoolArg(info, 5, "training"),
                                      NumberArg(info, 6, "momentum"), NumberArg(info, 7, "eps"),
                                      at::globalContext().userEnabledCuDNN()));
}
// maxPool2d(x, kernel, stride, padding, dilation, ceilMode)
RN_BINDING(MaxPool2d) {
  return Wrap(info, torch::max_pool2d(TensorArg(info, 0, "input"), IntListArg(info, 1, "kernelSize"),
                                      IntListArg(info, 2, "stride"), IntListArg(info, 3, "padding"),
                                      IntListArg(info, 4, "dilation"), BoolArg(info, 5, "ceilMode")));
}
// avgPool2d(x, kernel, stride, padding, ceilMode, countIncludePad)
RN_BINDING(AvgPool2d) {
  return Wrap(info, torch::avg_pool2d(TensorArg(info, 0, "input"), IntListArg(info, 1, "kernelSize"),
                                      IntListArg(info, 2, "stride"), IntListArg(info, 3, "padding"),
                                      BoolArg(info, 4, "ceilMode"), BoolArg(info, 5, "countIncludePad")));
}
RN_BINDING(AdaptiveAvgPool2d) {
  return Wrap(info, torch::adaptive_avg_pool2d(TensorArg(info, 0, "input"), IntListArg(info, 1, "outputSize")));
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
#define RN_OP(js, fn) ops.Set(js, Napi::Function::New<fn>(env, js))
  RN_OP("add", Add);
  RN_OP("sub", Sub);
  RN_OP("mul", Mul);
  RN_OP("div", Div);
  RN_OP("eq", Eq);
  RN_OP("neg", Neg);
  RN_OP("sqrt", Sqrt);
  RN_OP("relu", Relu);
  RN_OP("relu_", ReluInPlace);
  RN_OP("clamp", Clamp);
  RN_OP("mul_", MulInPlace);
  RN_OP("div_", DivInPlace);
  RN_OP("add_", AddInPlace);
  RN_OP("copy_", CopyInPlace);
  RN_OP("zero_", ZeroInPlace);
  RN_OP("normal_", NormalInPlace);
  RN_OP("foreachAdd_", ForeachAddInPlace);
  RN_OP("foreachAdd", ForeachAdd);
  RN_OP("foreachMul_", ForeachMulInPlace);
  RN_OP("foreachMul", ForeachMul);
  RN_OP("foreachLerp_", ForeachLerpInPlace);
  RN_OP("foreachAddcmul_", ForeachAddcmulInPlace);
  RN_OP("foreachAddcdiv_", ForeachAddcdivInPlace);
  RN_OP("foreachSqrt", ForeachSqrt);
  RN_OP("foreachDivScalar_", ForeachDivScalarInPlace);
  RN_OP("foreachAddScalar_", ForeachAddScalarInPlace);
  RN_OP("foreachNorm", ForeachNorm);
  RN_OP("foreachCopy_", ForeachCopyInPlace);
  RN_OP("ampUnscale_", AmpUnscaleInPlace);
  RN_OP("ampUpdateScale_", AmpUpdateScaleInPlace);
  RN_OP("uniform_", UniformInPlace);
  RN_OP("fill_", FillInPlace);
  RN_OP("sum", Sum);
  RN_OP("mean", Mean);
  RN_OP("argmax", Argmax);
  RN_OP("softmax", Softmax);
  RN_OP("logSoftmax", LogSoftmax);
  RN_OP("crossEntropy", CrossEntropy);
  RN_OP("reshape", Reshape);
  RN_OP("view", View);
  RN_OP("flatten", Flatten);
  RN_OP("permute", Permute);
  RN_OP("transpose", Transpose);
  RN_OP("contiguous", Contiguous);
  RN_OP("contiguousIn", ContiguousIn);
  RN_OP("isContiguousIn", IsContiguousIn);
  RN_OP("asStrided", AsStrided);
  RN_OP("clone", Clone);
  RN_OP("cat", Cat);
  RN_OP("stack", Stack);
  RN_OP("narrow", Narrow);
  RN_OP("indexSelect", IndexSelect);
  RN_OP("gather", Gather);
  RN_OP("flip", Flip);
  RN_OP("pad", Pad);
  RN_OP("index", Index);
  RN_OP("upsampleBilinear2d", UpsampleBilinear2d);
  RN_OP("to", To);
  RN_OP("pinMemory", PinMemory);
  RN_OP("matmul", Matmul);
  RN_OP("linear", Linear);
  RN_OP("conv2d", Conv2d);
  RN_OP("batchNorm", BatchNorm);
  RN_OP("maxPool2d", MaxPool2d);
  RN_OP("avgPool2d", AvgPool2d);
  RN_OP("adaptiveAvgPool2d", AdaptiveAvgPool2d);
#undef RN_OP
  exports.Set("ops", ops);
}

}  // namespace rn
