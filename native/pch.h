// Precompiled once: parsing <torch/torch.h> dominates compile time (~18 s per file).
#pragma once
#include <torch/torch.h>
#include <napi.h>
