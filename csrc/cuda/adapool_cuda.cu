// CUDA AdaPool kernels: launches of the per-element bodies in adapool_device_body.h (the same
// functions the CPU kernel and the CPU tests run). One thread per output (forward) or per input
// (backward, a gather: deterministic, no atomics). 32-bit indexing when the sizes allow, else
// 64-bit; the grid-stride loop counter is always 64-bit.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include "adapool.h"
#include "adapool_device_body.h"
#include "cuda/element_kernel.h"

namespace softpool {

void ada_forward_cuda(const at::Tensor& input, const at::Tensor& b, const PoolGeometry& g,
                      at::Tensor& output, at::Tensor& stats) {
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(stats);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_forward_cuda", [&] {
    body::launch_elements(input, output.numel(), small, cl, [&](auto index_zero) {
      return ada::forward_args<scalar_t, decltype(index_zero)>(input, b, g, output, stats);
    });
  });
}

void ada_backward_cuda(const at::Tensor& grad, const at::Tensor& b, const at::Tensor& input,
                       const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input) {
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(stats);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_backward_cuda", [&] {
    body::launch_elements(input, input.numel(), small, cl, [&](auto index_zero) {
      return ada::backward_args<scalar_t, decltype(index_zero)>(grad, b, input, stats, g,
                                                                grad_input);
    });
  });
}

}  // namespace softpool
