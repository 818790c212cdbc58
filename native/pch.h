// Precompiled once: parsing <torch/torch.h> dominates compile time (~18 s per file).
#pragma once
#include <torch/torch.h>
#include <ATen/autocast_mode.h>
#include <napi.h>
