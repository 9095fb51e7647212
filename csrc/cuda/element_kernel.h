// The one CUDA kernel template: a thread per element, each running a per-element body
// (softpool_device_body.h, adapool_device_body.h) over the grid-stride loop.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>

#include "launch.h"

namespace softpool {
namespace body {

// Element: the address of a body, void(index_t, const Args&); i < total fits its index_t.
template <auto Element, typename Args>
__global__ void element_kernel(Args args, int64_t total) {
  grid_stride_loop(total, gridDim.x, blockDim.x, blockIdx.x, threadIdx.x,
                   [&](int64_t i) { Element(i, args); });
}

// Runs Element for elements [0, total) on the current stream of the input's device.
template <auto Element, typename Args>
void launch_elements(const at::Tensor& input, int64_t total, const Args& args) {
  const c10::cuda::CUDAGuard guard(input.device());
  element_kernel<Element><<<launch_blocks(total), kThreads, 0,
                            c10::cuda::getCurrentCUDAStream()>>>(args, total);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace body
}  // namespace softpool
