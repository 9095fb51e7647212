// CUDA AdaPool kernels: launches of the per-element bodies in adapool_device_body.h (the same
// functions the CPU kernel and the CPU tests run). One thread per output (forward) or per input
// (backward, a gather: deterministic, no atomics). 32-bit indexing when the sizes allow, else
// 64-bit; the grid-stride loop counter is always 64-bit.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <type_traits>

#include "adapool.h"
#include "adapool_device_body.h"

namespace softpool {
namespace {

template <bool channels_last, typename scalar_t, typename index_t>
__global__ void ada_forward_kernel(ada::ForwardArgs<scalar_t, index_t> args, int64_t total) {
  body::grid_stride_loop(total, gridDim.x, blockDim.x, blockIdx.x, threadIdx.x, [&](int64_t i) {
    ada::forward_element<channels_last>(static_cast<index_t>(i), args);
  });
}

template <bool channels_last, typename scalar_t, typename index_t>
__global__ void ada_backward_kernel(ada::BackwardArgs<scalar_t, index_t> args, int64_t total) {
  body::grid_stride_loop(total, gridDim.x, blockDim.x, blockIdx.x, threadIdx.x, [&](int64_t i) {
    ada::backward_element<channels_last>(static_cast<index_t>(i), args);
  });
}

template <typename F>
void with_index_and_layout(bool small, bool channels_last, F&& f) {
  if (small) {
    channels_last ? f(int32_t(0), std::true_type{}) : f(int32_t(0), std::false_type{});
  } else {
    channels_last ? f(int64_t(0), std::true_type{}) : f(int64_t(0), std::false_type{});
  }
}

}  // namespace

void ada_forward_cuda(const at::Tensor& input, const PoolGeometry& g, at::Tensor& edscw,
                      at::Tensor& em, at::Tensor& stats) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(stats);
  const int64_t total = edscw.numel();
  const body::Window win = body::window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_and_layout(small, cl, [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const ada::ForwardArgs<scalar_t, index_t> args{
          input.const_data_ptr<scalar_t>(), body::dims_of<index_t>(input),
          edscw.mutable_data_ptr<acc_t>(), em.mutable_data_ptr<acc_t>(),
          stats.mutable_data_ptr<acc_t>(), total, body::dims_of<index_t>(edscw), win};
      ada_forward_kernel<decltype(cl_tag)::value>
          <<<body::launch_blocks(total), body::kThreads, 0, stream>>>(args, total);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

void ada_backward_cuda(const at::Tensor& grad_edscw, const at::Tensor& grad_em,
                       const at::Tensor& input, const at::Tensor& edscw, const at::Tensor& em,
                       const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = body::fits_int32(input) && body::fits_int32(stats);
  const int64_t total = input.numel();
  const body::Window win = body::window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_and_layout(small, cl, [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const ada::BackwardArgs<scalar_t, index_t> args{
          grad_edscw.const_data_ptr<acc_t>(), grad_em.const_data_ptr<acc_t>(),
          input.const_data_ptr<scalar_t>(), edscw.const_data_ptr<acc_t>(),
          em.const_data_ptr<acc_t>(), stats.const_data_ptr<acc_t>(), edscw.numel(),
          body::dims_of<index_t>(input), body::dims_of<index_t>(edscw), win,
          grad_input.mutable_data_ptr<scalar_t>()};
      ada_backward_kernel<decltype(cl_tag)::value>
          <<<body::launch_blocks(total), body::kThreads, 0, stream>>>(args, total);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace softpool
