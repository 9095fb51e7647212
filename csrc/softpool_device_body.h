// Per-element bodies of the CUDA SoftPool kernels, as __host__ __device__ functions.
// cuda/softpool_cuda.cu launches them; testing/device_bodies.cpp runs the very same functions in a
// host loop (test-only ops), so the device maths and indexing are tested on a CPU. Only the launch
// itself (grid size, streams, the CUDA math library's ulp-level differences) is not.
//
// One thread per output (forward) or per input (backward, a gather over the windows containing it:
// deterministic, no atomics). A linear index walks the tensor in its memory order (W fastest for
// contiguous, C fastest for channels_last_3d).
#pragma once

#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>

#include "device_body_common.h"
#include "softpool.h"

namespace softpool {
namespace body {

template <typename scalar_t, typename index_t>
struct ForwardArgs {
  const scalar_t* x;
  Dims<index_t> in;
  scalar_t* y;
  at::opmath_type<scalar_t>* lse;
  Dims<index_t> out;
  Window win;
};

template <typename scalar_t, typename index_t>
struct BackwardArgs {
  const scalar_t* gy;
  const scalar_t* x;
  const scalar_t* y;
  const at::opmath_type<scalar_t>* lse;
  Dims<index_t> in, out;
  Window win;
  bool paper;
  scalar_t* gx;
};

// Output i (linear, memory order): y[i] and lse[i] = log sum_j e^(a_j - y) (see softpool.h).
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void forward_element(index_t i, const ForwardArgs<scalar_t, index_t>& A) {
  using acc_t = at::opmath_type<scalar_t>;
  const WindowCells<index_t> cells = window_cells<channels_last>(i, A.in, A.out, A.win);
  const scalar_t* base = A.x + cells.plane;
  acc_t m = -std::numeric_limits<acc_t>::infinity();  // NaN is skipped here, caught by the sum
  cells.for_each(A.in, [&](index_t o) {
    const acc_t a = static_cast<acc_t>(base[o]);
    m = a > m ? a : m;
  });
  acc_t s = 0, t = 0;
  cells.for_each(A.in, [&](index_t o) {
    const acc_t a = static_cast<acc_t>(base[o]);
    const acc_t diff = shifted<acc_t>(a, m);
    const acc_t e = acc_exp(diff);
    s += e;
    t += e * diff;
  });
  const scalar_t out = static_cast<scalar_t>(m + t / s);
  A.y[i] = out;
  A.lse[i] = tie_diff<acc_t>(m, static_cast<acc_t>(out)) + acc_log(s);
}

// Input i (linear, memory order): the gradient gathered from every window that contains it.
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void backward_element(index_t i, const BackwardArgs<scalar_t, index_t>& A) {
  using acc_t = at::opmath_type<scalar_t>;
  const acc_t a = static_cast<acc_t>(A.x[i]);
  acc_t acc = 0;
  containing_windows<channels_last>(i, A.in, A.out, A.win).for_each(A.out, [&](index_t o) {
    const acc_t diff = shifted<acc_t>(a, static_cast<acc_t>(A.y[o]));
    const acc_t gw = static_cast<acc_t>(A.gy[o]) * acc_exp(diff - A.lse[o]);
    acc += A.paper ? gw : gw * (acc_t(1) + diff);
  });
  A.gx[i] = static_cast<scalar_t>(acc);
}

// ---- host side: the arguments of a call (tensors in memory_format_of(input)) ----

template <typename scalar_t, typename index_t>
ForwardArgs<scalar_t, index_t> forward_args(const at::Tensor& input, const PoolGeometry& g,
                                            at::Tensor& output, at::Tensor& lse) {
  using acc_t = at::opmath_type<scalar_t>;
  return {input.const_data_ptr<scalar_t>(), dims_of<index_t>(input),
          output.mutable_data_ptr<scalar_t>(), lse.mutable_data_ptr<acc_t>(),
          dims_of<index_t>(output), window_of(g)};
}

template <typename scalar_t, typename index_t>
BackwardArgs<scalar_t, index_t> backward_args(const at::Tensor& grad_output,
                                              const at::Tensor& input, const at::Tensor& output,
                                              const at::Tensor& lse, const PoolGeometry& g,
                                              bool paper_grad, at::Tensor& grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  return {grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
          output.const_data_ptr<scalar_t>(), lse.const_data_ptr<acc_t>(),
          dims_of<index_t>(input), dims_of<index_t>(output), window_of(g), paper_grad,
          grad_input.mutable_data_ptr<scalar_t>()};
}

}  // namespace body
}  // namespace softpool
