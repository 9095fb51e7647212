// How the CUDA kernels run the per-element bodies: the grid-stride loop, the launch shape and the
// index width. Shared by the launches (cuda/element_kernel.h) and their emulation on the host
// (testing/emulated_launch.h), so the test-only ops walk the indices the kernels walk.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "softpool.h"

namespace softpool {
namespace body {

// The grid-stride loop of every kernel. The counter and the step are 64-bit: with 32-bit indices
// (numel < 2^31) a grid that covers the tensor in one pass still makes i + step exceed 2^31.
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <typename F>
SOFTPOOL_HD void grid_stride_loop(int64_t total, uint32_t grid_dim, uint32_t block_dim,
                                  uint32_t block, uint32_t thread, F&& body) {
  const int64_t step = static_cast<int64_t>(grid_dim) * block_dim;
  for (int64_t i = static_cast<int64_t>(block) * block_dim + thread; i < total; i += step) body(i);
}

// ---- host side ----

constexpr int kThreads = 256;

// Blocks launched for `total` elements: one pass when that fits CUDA's grid limit, else fewer
// blocks and a grid-stride loop.
inline int64_t launch_blocks(int64_t total) {
  const int64_t max_blocks = int64_t(1) << 30;
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return blocks < 1 ? 1 : (blocks > max_blocks ? max_blocks : blocks);
}

// Whether every element offset of `t` fits a 32-bit index.
inline bool fits_int32(const at::Tensor& t) {
  return t.numel() < std::numeric_limits<int32_t>::max() &&
         t.storage_offset() + t.numel() < std::numeric_limits<int32_t>::max();
}

// Calls f(index_zero, channels_last_tag): the index type (int32_t or int64_t) as a value, the
// layout as std::true_type / std::false_type.
template <typename F>
void with_index_and_layout(bool int32, bool channels_last, F&& f) {
  if (int32) {
    channels_last ? f(int32_t(0), std::true_type{}) : f(int32_t(0), std::false_type{});
  } else {
    channels_last ? f(int64_t(0), std::true_type{}) : f(int64_t(0), std::false_type{});
  }
}

}  // namespace body
}  // namespace softpool
