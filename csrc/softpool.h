// Shared declarations of the SoftPool operator: argument checks (geometry.cpp), output sizes, the
// per-device kernels. One op = a schema (softpool.cpp) + a CPU kernel (cpu/) + a CUDA kernel
// (cuda/).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <array>
#include <cstdint>
#include <vector>

namespace softpool {

// Pooling geometry of one call: kernel, stride, padding, input and output sizes, each (D, H, W).
struct PoolGeometry {
  std::array<int64_t, 3> kernel, stride, padding, in, out;
};

// PyTorch's pooling output size (aten/src/ATen/native/Pool.h, dilation 1).
inline int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  int64_t numerator = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
  int64_t out = (numerator >= 0 ? numerator / s : -((-numerator + s - 1) / s)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

// The layout the kernels compute in: channels_last_3d when the input is exactly that (and not also
// contiguous), else contiguous. Mirrored by softpool3d/_frontend.py:memory_format_of.
inline c10::MemoryFormat memory_format_of(const at::Tensor& input) {
  if (input.dim() == 5 && !input.is_contiguous() &&
      input.is_contiguous(c10::MemoryFormat::ChannelsLast3d))
    return c10::MemoryFormat::ChannelsLast3d;
  return c10::MemoryFormat::Contiguous;
}

// Validates the arguments (TORCH_CHECK with messages naming the problem) and returns the geometry.
PoolGeometry make_geometry(const at::Tensor& input, c10::IntArrayRef kernel_size,
                           c10::IntArrayRef stride, c10::IntArrayRef padding, bool ceil_mode);

// A forward call: make_geometry's result, the layout the kernels compute in, the input in it and
// the output shape (N, C, OD, OH, OW).
struct ForwardCall {
  PoolGeometry g;
  c10::MemoryFormat fmt;
  at::Tensor input;
  std::vector<int64_t> out_shape;
};
ForwardCall forward_call(const at::Tensor& input, c10::IntArrayRef kernel_size,
                         c10::IntArrayRef stride, c10::IntArrayRef padding, bool ceil_mode);

// A backward's ceil_mode is implied by the saved output's size: its geometry is make_geometry's
// with ceil_mode (the larger size, so a kernel only ceil_mode makes legal passes), then this checks
// that `output` is (N, C, OD, OH, OW) for `input` under either rounding and takes its size.
// `op` starts the messages.
void use_saved_output_size(PoolGeometry& g, const at::Tensor& input, const at::Tensor& output,
                           const char* op);

// Kernels. All tensors are already in `memory_format_of(input)`; outputs are preallocated.
// forward: output y (input dtype) and lse = log sum_j exp(a_j - y), the window's log-sum-exp
// relative to the stored output (accumulation type: float32, float64 for float64 input), both
// (N, C, OD, OH, OW). Relative to y, the weights w_i = exp(a_i - y - lse) stay exact at any input
// magnitude (an absolute fp32 log-sum-exp loses log(count) once |a| > 2^24).
// Infinities are limits: -inf elements get weight 0; a window whose max is +inf, or that is all
// -inf, returns that infinity, with lse = log(count of elements equal to it), so those elements
// share the gradient equally (tie_diff/shifted below); NaN propagates to the window's output and
// gradients.
// backward: grad_input (input dtype), the gradient of sum(grad_output * output).
void forward_cpu(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output, at::Tensor& lse);
void backward_cpu(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output,
                  const at::Tensor& lse, const PoolGeometry& g, bool paper_grad,
                  at::Tensor& grad_input);
#ifdef SOFTPOOL_WITH_CUDA
void forward_cuda(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output, at::Tensor& lse);
void backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output,
                   const at::Tensor& lse, const PoolGeometry& g, bool paper_grad,
                   at::Tensor& grad_input);
#endif

// Numerically safe pieces shared by the CPU and CUDA kernels (host + device).
#if defined(__CUDACC__)
#define SOFTPOOL_HD __host__ __device__ __forceinline__
#else
#define SOFTPOOL_HD inline
#endif

// Differences a - b below this are clamped: exp() of them is 0 in the accumulation type, and the
// clamp keeps 0 * (a - b) from becoming 0 * -inf = NaN when a - b overflows. NaN passes through.
template <typename acc_t> struct ExpFloor;
template <> struct ExpFloor<float> { static constexpr float value = -104.f; };
template <> struct ExpFloor<double> { static constexpr double value = -746.; };

template <typename acc_t>
SOFTPOOL_HD acc_t clamp_below(acc_t x) {
  return x < ExpFloor<acc_t>::value ? ExpFloor<acc_t>::value : x;
}

// a - b, except that equal operands give exactly 0: also equal infinities, where a - b is NaN.
// This gives SoftPool its limits at infinity: a window whose max is +inf (or that is all -inf)
// returns that infinity, and the elements equal to it share the weight (see the kernels' contract
// above, and softpool3d/reference.py).
template <typename acc_t>
SOFTPOOL_HD acc_t tie_diff(acc_t a, acc_t b) {
  return a == b ? acc_t(0) : a - b;
}

// tie_diff(a, m) clamped below: the argument of exp() for element a of a window with max / output m.
template <typename acc_t>
SOFTPOOL_HD acc_t shifted(acc_t a, acc_t m) {
  return a == m ? acc_t(0) : clamp_below<acc_t>(a - m);
}

// First/last (inclusive) output index whose window [o*s - p, o*s - p + k) contains input index i.
SOFTPOOL_HD void windows_containing(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out,
                                    int64_t& first, int64_t& last) {
  int64_t lo = i + p - k + 1;  // o*s >= lo
  first = lo <= 0 ? 0 : (lo + s - 1) / s;
  last = (i + p) / s;
  if (last > out - 1) last = out - 1;
}

}  // namespace softpool
