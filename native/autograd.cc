// Autograd: requires-grad flags, backward, gradients, and the (thread-local) grad mode.
#include "common.h"

namespace rn {
namespace {

// setGradEnabled(enabled) -> previous. libtorch keeps grad mode per OS thread; every op of a
// JavaScript thread (main or worker) runs synchronously on that thread, so setting it here
// governs exactly the ops that thread issues.
RN_BINDING(SetGradEnabled) {
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(BoolArg(info, 0, "enabled"));
  return Napi::Boolean::New(info.Env(), previous);
}
RN_BINDING(IsGradEnabled) { return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled()); }

// Inference mode (c10::InferenceMode): no autograd bookkeeping at all (no version counters, no
// view tracking), cheaper than no-grad. Guards are kept per thread and must be popped in the
// order they were pushed, which the synchronous JavaScript scope guarantees.
thread_local std::vector<std::unique_ptr<c10::InferenceMode>> inferenceGuards;

RN_BINDING(EnterInferenceMode) {
  inferenceGuards.push_back(std::make_unique<c10::InferenceMode>(true));
  return Napi::Number::New(info.Env(), double(inferenceGuards.size()));
}
RN_BINDING(ExitInferenceMode) {
  if (inferenceGuards.empty()) throw Napi::Error::New(info.Env(), "exitInferenceMode() without enterInferenceMode()");
  inferenceGuards.pop_back();
  return info.Env().Undefined();
}
RN_BINDING(IsInferenceMode) { return Napi::Boolean::New(info.Env(), c10::InferenceMode::is_enabled()); }

RN_BINDING(RequiresGrad) { return Napi::Boolean::New(info.Env(), TensorArg(info, 0, "tensor").requires_grad()); }
RN_BINDING(SetRequiresGrad) {
  TensorArg(info, 0, "tensor").requires_grad_(BoolArg(info, 1, "requiresGrad"));
  return info.Env().Undefined();
}
// backward(t, gradient|null, retainGraph)
RN_BINDING(Backward) {
  torch::Tensor& t = TensorArg(info, 0, "tensor");
  std::optional<bool> retain;
  if (!IsMissing(info, 2)) retain = BoolArg(info, 2, "retainGraph");
  t.backward(OptionalTensorArg(info, 1, "gradient").value_or(torch::Tensor()), retain);
  return info.Env().Undefined();
}
// grad(t) -> Tensor | null
RN_BINDING(Grad) {
  const torch::Tensor& g = TensorArg(info, 0, "tensor").grad();
  if (!g.defined()) return info.Env().Null();
  return WrapTensor(info.Env(), g);
}
RN_BINDING(ClearGrad) {
  TensorArg(info, 0, "tensor").mutable_grad().reset();
  return info.Env().Undefined();
}
RN_BINDING(Detach) { return WrapTensor(info.Env(), TensorArg(info, 0, "tensor").detach()); }
RN_BINDING(IsLeaf) { return Napi::Boolean::New(info.Env(), TensorArg(info, 0, "tensor").is_leaf()); }

}  // namespace

void InitAutograd(Napi::Env env, Napi::Object exports) {
  auto autograd = Napi::Object::New(env);
  autograd.Set("setGradEnabled", Napi::Function::New<SetGradEnabled>(env, "setGradEnabled"));
  autograd.Set("isGradEnabled", Napi::Function::New<IsGradEnabled>(env, "isGradEnabled"));
  autograd.Set("requiresGrad", Napi::Function::New<RequiresGrad>(env, "requiresGrad"));
  autograd.Set("setRequiresGrad", Napi::Function::New<SetRequiresGrad>(env, "setRequiresGrad"));
  autograd.Set("backward", Napi::Function::New<Backward>(env, "backward"));
  autograd.Set("grad", Napi::Function::New<Grad>(env, "grad"));
  autograd.Set("clearGrad", Napi::Function::New<ClearGrad>(env, "clearGrad"));
  autograd.Set("detach", Napi::Function::New<Detach>(env, "detach"));
  autograd.Set("isLeaf", Napi::Function::New<IsLeaf>(env, "isLeaf"));
  autograd.Set("enterInferenceMode", Napi::Function::New<EnterInferenceMode>(env, "enterInferenceMode"));
  autograd.Set("exitInferenceMode", Napi::Function::New<ExitInferenceMode>(env, "exitInferenceMode"));
  autograd.Set("isInferenceMode", Napi::Function::New<IsInferenceMode>(env, "isInferenceMode"));
  exports.Set("autograd", autograd);
}

}  // namespace rn
