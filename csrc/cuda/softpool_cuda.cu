// CUDA SoftPool kernels: launches of the per-element bodies in softpool_device_body.h (the same
// functions the CPU tests run through the test-only ops). 32-bit indexing when the sizes allow,
// else 64-bit; the grid-stride loop counter is always 64-bit.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include "cuda/element_kernel.h"
#include "softpool.h"
#include "softpool_device_body.h"

namespace softpool {

void forward_cuda(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output,
                  at::Tensor& lse) {
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(output);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_forward_cuda", [&] {
    body::launch_elements(input, output.numel(), small, cl, [&](auto index_zero) {
      return body::forward_args<scalar_t, decltype(index_zero)>(input, g, output, lse);
    });
  });
}

void backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output,
                   const at::Tensor& lse, const PoolGeometry& g, bool paper_grad,
                   at::Tensor& grad_input) {
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(output);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_backward_cuda", [&] {
    body::launch_elements(input, input.numel(), small, cl, [&](auto index_zero) {
      return body::backward_args<scalar_t, decltype(index_zero)>(grad_output, input, output, lse,
                                                                 g, paper_grad, grad_input);
    });
  });
}

}  // namespace softpool
