// The host-side stand-in for cuda/element_kernel.h used by the test-only ops: the per-element
// bodies run for every index a launch of `grid` blocks of `block` threads visits, each thread
// walking the grid-stride loop, in launch order.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>

#include <cstdint>
#include <initializer_list>
#include <limits>

#include "launch.h"

namespace softpool {
namespace testing {

// Element: the address of a body, void(index_t, const Args&); i < total fits its index_t.
template <auto Element, typename Args>
void emulate_launch(int64_t total, int64_t grid, int64_t block, const Args& args) {
  TORCH_CHECK(grid > 0 && block > 0 && grid < (int64_t(1) << 31) && block <= 1024,
              "device body: bad launch shape ", grid, " x ", block);
  for (int64_t b = 0; b < grid; ++b)
    for (int64_t t = 0; t < block; ++t)
      body::grid_stride_loop(total, uint32_t(grid), uint32_t(block), uint32_t(b), uint32_t(t),
                             [&](int64_t i) { Element(i, args); });
}

// Calls f(scalar_zero, index_zero, channels_last_tag): the body's types for the input's dtype, the
// index width asked for and the layout.
template <typename F>
void with_body_types(const at::Tensor& input, int64_t index_bits, c10::MemoryFormat fmt, F&& f) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "device_body",
                                  [&] {
    body::with_index_and_layout(index_bits == 32, fmt == c10::MemoryFormat::ChannelsLast3d,
                                [&](auto index_zero, auto cl_tag) {
      f(scalar_t(0), index_zero, cl_tag);
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

// Outputs start as NaN, so an index the launch never visits cannot pass a test.
inline at::Tensor nan_like(c10::IntArrayRef shape, const at::TensorOptions& opts,
                           c10::MemoryFormat fmt) {
  return at::full(shape, std::numeric_limits<double>::quiet_NaN(), opts).contiguous(fmt);
}

}  // namespace testing
}  // namespace softpool
