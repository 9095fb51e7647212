// The host-side stand-in for cuda/element_kernel.h used by the test-only ops: the per-element
// bodies run for every index a launch of `grid` blocks of `block` threads visits, each thread
// walking the grid-stride loop, in launch order. Outputs start as NaN (nan_like), so an index the
// launch never visits cannot pass a test.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <type_traits>

#include "launch.h"
#include "run_element.h"

namespace softpool {
namespace testing {

// Runs the body of make_args(index_zero)'s arguments (run_element.h) for every index in [0, total)
// that a launch of grid x block threads visits, with the index width asked for and fmt's layout.
template <typename MakeArgs>
void emulate_launch(int64_t total, int64_t grid, int64_t block, int64_t index_bits,
                    c10::MemoryFormat fmt, MakeArgs&& make_args) {
  TORCH_CHECK(grid > 0 && block > 0 && grid < (int64_t(1) << 31) && block <= 1024,
              "device body: bad launch shape ", grid, " x ", block);
  body::with_index_and_layout(index_bits == 32, fmt == c10::MemoryFormat::ChannelsLast3d,
                              [&](auto index_zero, auto cl_tag) {
    const auto args = make_args(index_zero);
    using index_t = body::index_of<std::decay_t<decltype(args)>>;
    for (int64_t b = 0; b < grid; ++b)
      for (int64_t t = 0; t < block; ++t)
        body::grid_stride_loop(total, uint32_t(grid), uint32_t(block), uint32_t(b), uint32_t(t),
                               [&](int64_t i) {
          body::run_element<decltype(cl_tag)::value>(static_cast<index_t>(i), args);
        });
  });
}

// The index width asked for: 32 or 64, 32 only where every tensor fits it.
inline void check_index_bits(int64_t index_bits, std::initializer_list<at::Tensor> tensors) {
  TORCH_CHECK(index_bits == 32 || index_bits == 64, "device body: index_bits must be 32 or 64");
  if (index_bits != 32) return;
  for (const auto& t : tensors)
    TORCH_CHECK(body::fits_int32(t), "device body: 32-bit indexing needs numel < 2^31");
}

inline at::Tensor nan_like(c10::IntArrayRef shape, const at::TensorOptions& opts,
                           c10::MemoryFormat fmt) {
  return at::full(shape, std::numeric_limits<double>::quiet_NaN(), opts).contiguous(fmt);
}

}  // namespace testing
}  // namespace softpool
