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
  exports.Set("autograd", autograd);
}

}  // namespace rn
