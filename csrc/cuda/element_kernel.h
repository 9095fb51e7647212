// The one CUDA kernel template: a thread per element, each running the per-element body of its
// arguments (run_element.h) over the grid-stride loop.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>

#include "launch.h"
#include "run_element.h"

namespace softpool {
namespace body {

template <bool channels_last, typename Args>
__global__ void element_kernel(Args args, int64_t total) {
  grid_stride_loop(total, gridDim.x, blockDim.x, blockIdx.x, threadIdx.x, [&](int64_t i) {
    run_element<channels_last>(static_cast<index_of<Args>>(i), args);
  });
}

// Runs the body of make_args(index_zero)'s arguments for elements [0, total) on the current stream
// of the input's device, with 32-bit indices where `int32`.
template <typename MakeArgs>
void launch_elements(const at::Tensor& input, int64_t total, bool int32, bool channels_last,
                     MakeArgs&& make_args) {
  const c10::cuda::CUDAGuard guard(input.device());
  with_index_and_layout(int32, channels_last, [&](auto index_zero, auto cl_tag) {
    element_kernel<decltype(cl_tag)::value>
        <<<launch_blocks(total), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
            make_args(index_zero), total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace body
}  // namespace softpool
