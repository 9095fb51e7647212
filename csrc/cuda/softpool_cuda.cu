// CUDA SoftPool kernels: launches of the per-element bodies in softpool_device_body.h (the same
// functions the CPU tests run through the test-only ops). 32-bit indexing when the sizes allow,
// else 64-bit; the grid-stride loop counter is always 64-bit.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <type_traits>

#include "softpool.h"
#include "softpool_device_body.h"

namespace softpool {
namespace {

using body::BackwardArgs;
using body::ForwardArgs;

template <bool channels_last, typename scalar_t, typename index_t>
__global__ void forward_kernel(ForwardArgs<scalar_t, index_t> args, int64_t total) {
  body::grid_stride_loop(total, gridDim.x, blockDim.x, blockIdx.x, threadIdx.x, [&](int64_t i) {
    body::forward_element<channels_last>(static_cast<index_t>(i), args);
  });
}

template <bool channels_last, typename scalar_t, typename index_t>
__global__ void backward_kernel(BackwardArgs<scalar_t, index_t> args, int64_t total) {
  body::grid_stride_loop(total, gridDim.x, blockDim.x, blockIdx.x, threadIdx.x, [&](int64_t i) {
    body::backward_element<channels_last>(static_cast<index_t>(i), args);
  });
}

// Calls f(index_zero, channels_last_tag) with the index type and layout of this call.
template <typename F>
void with_index_and_layout(bool small, bool channels_last, F&& f) {
  if (small) {
    channels_last ? f(int32_t(0), std::true_type{}) : f(int32_t(0), std::false_type{});
  } else {
    channels_last ? f(int64_t(0), std::true_type{}) : f(int64_t(0), std::false_type{});
  }
}

}  // namespace

void forward_cuda(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output,
                  at::Tensor& lse) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(output);
  const int64_t total = output.numel();
  const body::Window win = body::window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_and_layout(small, cl, [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const ForwardArgs<scalar_t, index_t> args{
          input.const_data_ptr<scalar_t>(), body::dims_of<index_t>(input),
          output.mutable_data_ptr<scalar_t>(), lse.mutable_data_ptr<acc_t>(),
          body::dims_of<index_t>(output), win};
      forward_kernel<decltype(cl_tag)::value>
          <<<body::launch_blocks(total), body::kThreads, 0, stream>>>(args, total);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output,
                   const at::Tensor& lse, const PoolGeometry& g, bool paper_grad,
                   at::Tensor& grad_input) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(output);
  const int64_t total = input.numel();
  const body::Window win = body::window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_and_layout(small, cl, [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const BackwardArgs<scalar_t, index_t> args{
          grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
          output.const_data_ptr<scalar_t>(), lse.const_data_ptr<acc_t>(),
          body::dims_of<index_t>(input), body::dims_of<index_t>(output), win, paper_grad,
          grad_input.mutable_data_ptr<scalar_t>()};
      backward_kernel<decltype(cl_tag)::value>
          <<<body::launch_blocks(total), body::kThreads, 0, stream>>>(args, total);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace softpool
