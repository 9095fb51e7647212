// Schemas of the AdaPool operator and its device-agnostic wrappers (checks, layout, allocation).
// softpool3d::ada_pool_forward returns both halves of AdaPool (eDSCW and eM) in the accumulation
// type, and the statistics the backward needs; the beta mix is done in Python (adapool.py).
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "adapool.h"
#include "softpool.h"

namespace softpool {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> ada_forward(const at::Tensor& input_,
                                                           c10::IntArrayRef kernel_size,
                                                           c10::IntArrayRef stride,
                                                           c10::IntArrayRef padding,
                                                           bool ceil_mode) {
  const auto [g, fmt, input, shape] = forward_call(input_, kernel_size, stride, padding, ceil_mode);
  const auto acc = input.options().dtype(at::toOpMathType(input.scalar_type())).memory_format(fmt);
  at::Tensor edscw = at::empty(shape, acc);
  at::Tensor em = at::empty(shape, acc);
  std::vector<int64_t> stats_shape = shape;
  stats_shape[0] *= kAdaStats;
  at::Tensor stats = at::empty(stats_shape, acc);
  if (edscw.numel() == 0) return {edscw, em, stats};
  if (input.is_cuda()) {
#ifdef SOFTPOOL_WITH_CUDA
    ada_forward_cuda(input, g, edscw, em, stats);
#endif
  } else {
    ada_forward_cpu(input, g, edscw, em, stats);
  }
  return {edscw, em, stats};
}

at::Tensor ada_backward(const at::Tensor& grad_edscw_, const at::Tensor& grad_em_,
                        const at::Tensor& input_, const at::Tensor& edscw_, const at::Tensor& em_,
                        const at::Tensor& stats_, c10::IntArrayRef kernel_size,
                        c10::IntArrayRef stride, c10::IntArrayRef padding) {
  PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, /*ceil_mode=*/true);
  const auto acc_type = at::toOpMathType(input_.scalar_type());
  for (const auto* t : {&grad_edscw_, &grad_em_, &edscw_, &em_, &stats_}) {
    TORCH_CHECK(t->device() == input_.device(), "softpool3d ada_pool_backward: every tensor must ",
                "be on the input's device ", input_.device(), ", got ", t->device());
    TORCH_CHECK(t->scalar_type() == acc_type, "softpool3d ada_pool_backward: grad_edscw, grad_em, ",
                "edscw, em and stats must be ", acc_type, " for a ", input_.scalar_type(),
                " input, got ", t->scalar_type());
  }
  use_saved_output_size(g, input_, edscw_, "softpool3d ada_pool_backward");
  std::vector<int64_t> stats_shape(edscw_.sizes().begin(), edscw_.sizes().end());
  stats_shape[0] *= kAdaStats;
  TORCH_CHECK(grad_edscw_.sizes() == edscw_.sizes() && grad_em_.sizes() == edscw_.sizes() &&
                  em_.sizes() == edscw_.sizes() && stats_.sizes() == c10::IntArrayRef(stats_shape),
              "softpool3d ada_pool_backward: grad_edscw ", grad_edscw_.sizes(), ", grad_em ",
              grad_em_.sizes(), ", edscw ", edscw_.sizes(), ", em ", em_.sizes(), " and stats ",
              stats_.sizes(), " do not match");
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt);
  const at::Tensor grad_edscw = grad_edscw_.contiguous(fmt), grad_em = grad_em_.contiguous(fmt);
  const at::Tensor edscw = edscw_.contiguous(fmt), em = em_.contiguous(fmt);
  const at::Tensor stats = stats_.contiguous(fmt);
  at::Tensor grad_input = at::empty(input.sizes(), input.options().memory_format(fmt));
  if (grad_input.numel() == 0) return grad_input;
  if (input.is_cuda()) {
#ifdef SOFTPOOL_WITH_CUDA
    ada_backward_cuda(grad_edscw, grad_em, input, edscw, em, stats, g, grad_input);
#endif
  } else {
    ada_backward_cpu(grad_edscw, grad_em, input, edscw, em, stats, g, grad_input);
  }
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(softpool3d, m) {
  m.def("ada_pool_forward(Tensor input, int[3] kernel_size, int[3] stride, int[3] padding, "
        "bool ceil_mode) -> (Tensor edscw, Tensor em, Tensor stats)");
  m.def("ada_pool_backward(Tensor grad_edscw, Tensor grad_em, Tensor input, Tensor edscw, "
        "Tensor em, Tensor stats, int[3] kernel_size, int[3] stride, int[3] padding) -> Tensor");
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
