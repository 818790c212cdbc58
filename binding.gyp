{
  # node-gyp builds the same sources with the same libtorch flags as CMakeLists.txt (cmake-js is
  # the default; this is for toolchains that standardise on node-gyp). libtorch is found by
  # scripts/libtorch.js, in the same order as for the cmake-js build.
  "targets": [
    {
      "target_name": "resnet_native",
      "sources": [
        "native/addon.cc",
        "native/allocator.cc",
        "native/autograd.cc",
        "native/convert.cc",
        "native/cuda_graph.cc",
        "native/device.cc",
        "native/distributed.cc",
        "native/modules.cc",
        "native/ops.cc",
        "native/tensor.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!@(node scripts/libtorch.js --include)"
      ],
      "defines": [
        "NAPI_VERSION=2147483647",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "<!@(node scripts/libtorch.js --gyp-defines)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=c++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-O3"],
      "libraries": ["<!@(node scripts/libtorch.js --gyp-libraries)"]
    }
  ]
}
