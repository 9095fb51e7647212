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

void ada_forward_cuda(const at::Tensor& input, const PoolGeometry& g, at::Tensor& edscw,
                      at::Tensor& em, at::Tensor& stats) {
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(stats);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_forward_cuda", [&] {
    body::launch_elements(input, edscw.numel(), small, cl, [&](auto index_zero) {
      return ada::forward_args<scalar_t, decltype(index_zero)>(input, g, edscw, em, stats);
    });
  });
}

void ada_backward_cuda(const at::Tensor& grad_edscw, const at::Tensor& grad_em,
                       const at::Tensor& input, const at::Tensor& edscw, const at::Tensor& em,
                       const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input) {
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(stats);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_backward_cuda", [&] {
    body::launch_elements(input, input.numel(), small, cl, [&](auto index_zero) {
      return ada::backward_args<scalar_t, decltype(index_zero)>(grad_edscw, grad_em, input, edscw,
                                                                em, stats, g, grad_input);
    });
  });
}

}  // namespace softpool
