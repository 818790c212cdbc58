// The host allocator for CPU tensors. libtorch's default one takes every block from
// posix_memalign, and glibc before 2.38 serves an aligned request of n bytes by carving it out of
// a free block of n + alignment + 32 bytes (bug 14581): a freed n-byte block can never serve the
// next n-byte request, so a loop that frees and allocates the same sizes while other threads
// allocate small blocks in between walks through fresh memory every step (gigabytes in a few
// hundred steps, all of it free inside malloc). This allocator takes n + 64 + 8 bytes from plain
// malloc, which reuses freed blocks of the same size, aligns by hand, and keeps malloc's own
// pointer in the 8 bytes before the aligned one, so one pointer is both data and context.
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <cstdlib>
#include <cstring>

#include "common.h"

namespace rn {
namespace {

constexpr size_t kAlignment = 64;  // what libtorch's default allocator uses (c10 gAlignment)

void FreeAligned(void* data) {
  if (data != nullptr) std::free(static_cast<void**>(data)[-1]);
}

class MallocCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    c10::Device cpu(c10::DeviceType::CPU);
    if (n == 0) return {nullptr, nullptr, &FreeAligned, cpu};
    // Larger alignments (transparent huge pages, THP_MEM_ALLOC_ENABLE) stay with libtorch's own.
    if (c10::c10_compute_alignment(n) > kAlignment) return c10::GetDefaultCPUAllocator()->allocate(n);
    TORCH_CHECK_WITH(OutOfMemoryError, n <= SIZE_MAX - kAlignment - sizeof(void*),
                     "CPU allocator: cannot allocate ", n, " bytes");
    void* raw = std::malloc(n + kAlignment + sizeof(void*));
    TORCH_CHECK_WITH(OutOfMemoryError, raw != nullptr, "CPU allocator: not enough memory: you tried to allocate ", n, " bytes");
    auto start = reinterpret_cast<uintptr_t>(raw) + sizeof(void*);
    void* data = reinterpret_cast<void*>((start + kAlignment - 1) & ~(uintptr_t(kAlignment) - 1));
    static_cast<void**>(data)[-1] = raw;
    return {data, data, &FreeAligned, cpu};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &FreeAligned; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
};

// useMallocCpuAllocator() -> installed: CPU tensors allocated from now on come from malloc
// (blocks already allocated keep their own deleter); false where the C library is not glibc.
// Process-wide, so the first call installs it and later ones (worker threads loading their own
// instance) change nothing. Policy: src/native.ts.
RN_BINDING(UseMallocCpuAllocator) {
#if defined(__GLIBC__)
  static MallocCpuAllocator allocator;
  static const bool installed = [] {
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
    return true;
  }();
  return Napi::Boolean::New(info.Env(), installed && c10::GetCPUAllocator() == &allocator);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

void InitAllocator(Napi::Env env, Napi::Object exports) {
  exports.Set("useMallocCpuAllocator", Napi::Function::New<UseMallocCpuAllocator>(env, "useMallocCpuAllocator"));
}

}  // namespace rn
