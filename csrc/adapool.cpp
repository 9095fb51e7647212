// Schemas of the AdaPool operator and its device-agnostic wrappers (checks, layout, allocation).
// softpool3d::ada_pool_forward(input, beta) returns AdaPool's output b edscw + (1 - b) em in the
// input's dtype, beta = b already clamped to [0, 1] (adapool.py), and the statistics the backward
// needs (both halves among them, for beta's gradient); ada_pool_backward returns the input's
// gradient.
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "adapool.h"
#include "softpool.h"

namespace softpool {
namespace {

std::tuple<at::Tensor, at::Tensor> ada_forward(const at::Tensor& input_, const at::Tensor& beta,
                                               c10::IntArrayRef kernel_size,
                                               c10::IntArrayRef stride, c10::IntArrayRef padding,
                                               bool ceil_mode) {
  const auto [g, fmt, input, shape] = forward_call(input_, kernel_size, stride, padding, ceil_mode);
  const auto acc_type = at::toOpMathType(input.scalar_type());
  const at::Tensor b = ada_mix_weight(beta, shape, fmt, input.device(), acc_type,
                                      "softpool3d ada_pool_forward");
  at::Tensor output = at::empty(shape, input.options().memory_format(fmt));
  std::vector<int64_t> stats_shape = shape;
  stats_shape[0] *= kAdaStats;
  at::Tensor stats = at::empty(stats_shape, input.options().dtype(acc_type).memory_format(fmt));
  if (output.numel() == 0) return {output, stats};
  if (input.is_cuda()) {
#ifdef SOFTPOOL_WITH_CUDA
    ada_forward_cuda(input, b, g, output, stats);
#endif
  } else {
    ada_forward_cpu(input, b, g, output, stats);
  }
  return {output, stats};
}

at::Tensor ada_backward(const at::Tensor& grad_output, const at::Tensor& input_,
                        const at::Tensor& beta, const at::Tensor& stats_,
                        c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                        c10::IntArrayRef padding) {
  constexpr const char* op = "softpool3d ada_pool_backward";
  PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, /*ceil_mode=*/true);
  const auto acc_type = at::toOpMathType(input_.scalar_type());
  for (const auto* t : {&grad_output, &stats_}) {
    TORCH_CHECK(t->device() == input_.device(), op, ": every tensor must be on the input's ",
                "device ", input_.device(), ", got ", t->device());
  }
  TORCH_CHECK(stats_.scalar_type() == acc_type, op, ": stats must be ", acc_type, " for a ",
              input_.scalar_type(), " input, got ", stats_.scalar_type());
  use_saved_output_size(g, input_, grad_output, op);
  std::vector<int64_t> stats_shape(grad_output.sizes().begin(), grad_output.sizes().end());
  stats_shape[0] *= kAdaStats;
  TORCH_CHECK(stats_.sizes() == c10::IntArrayRef(stats_shape), op, ": grad_output ",
              grad_output.sizes(), " and stats ", stats_.sizes(), " do not match");
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt);
  const at::Tensor grad = grad_output.to(acc_type).contiguous(fmt);
  const at::Tensor b = ada_mix_weight(beta, grad.sizes(), fmt, input.device(), acc_type, op);
  const at::Tensor stats = stats_.contiguous(fmt);
  at::Tensor grad_input = at::empty(input.sizes(), input.options().memory_format(fmt));
  if (grad_input.numel() == 0) return grad_input;
  if (input.is_cuda()) {
#ifdef SOFTPOOL_WITH_CUDA
    ada_backward_cuda(grad, b, input, stats, g, grad_input);
#endif
  } else {
    ada_backward_cpu(grad, b, input, stats, g, grad_input);
  }
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(softpool3d, m) {
  m.def("ada_pool_forward(Tensor input, Tensor beta, int[3] kernel_size, int[3] stride, "
        "int[3] padding, bool ceil_mode) -> (Tensor output, Tensor stats)");
  m.def("ada_pool_backward(Tensor grad_output, Tensor input, Tensor beta, Tensor stats, "
        "int[3] kernel_size, int[3] stride, int[3] padding) -> Tensor");
}

TORCH_LIBRARY_IMPL(softpool3d, CPU, m) {
  m.impl("ada_pool_forward", &ada_forward);
  m.impl("ada_pool_backward", &ada_backward);
}

#ifdef SOFTPOOL_WITH_CUDA
TORCH_LIBRARY_IMPL(softpool3d, CUDA, m) {
  m.impl("ada_pool_forward", &ada_forward);
  m.impl("ada_pool_backward", &ada_backward);
}
#endif

}  // namespace softpool
