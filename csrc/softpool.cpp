// Schemas of the SoftPool operator and the device-agnostic wrappers (checks, layout, allocation).
#include <Python.h>

#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "softpool.h"

namespace softpool {

namespace {

// The saved log-sum-exp is kept in the accumulation type: float32, float64 for float64 inputs.
at::ScalarType lse_dtype(const at::Tensor& input) {
  return at::toOpMathType(input.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& input_, c10::IntArrayRef kernel_size,
                                           c10::IntArrayRef stride, c10::IntArrayRef padding,
                                           bool ceil_mode, bool /*paper_grad: used by autograd*/) {
  const auto [g, fmt, input, shape] = forward_call(input_, kernel_size, stride, padding, ceil_mode);
  at::Tensor output = at::empty(shape, input.options().memory_format(fmt));
  at::Tensor lse = at::empty(shape, input.options().dtype(lse_dtype(input)).memory_format(fmt));
  if (output.numel() == 0) return {output, lse};
  if (input.is_cuda()) {
#ifdef SOFTPOOL_WITH_CUDA
    forward_cuda(input, g, output, lse);
#endif
  } else {
    forward_cpu(input, g, output, lse);
  }
  return {output, lse};
}

at::Tensor backward(const at::Tensor& grad_output_, const at::Tensor& input_,
                    const at::Tensor& output_, const at::Tensor& lse_,
                    c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                    c10::IntArrayRef padding, bool paper_grad) {
  PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, /*ceil_mode=*/true);
  for (const auto* t : {&grad_output_, &output_, &lse_}) {
    TORCH_CHECK(t->device() == input_.device(), "softpool3d backward: grad_output, output and lse ",
                "must be on the input's device ", input_.device(), ", got ", t->device());
  }
  TORCH_CHECK(grad_output_.scalar_type() == input_.scalar_type() &&
                  output_.scalar_type() == input_.scalar_type(),
              "softpool3d backward: grad_output (", grad_output_.scalar_type(), ") and output (",
              output_.scalar_type(), ") must have the input's dtype ", input_.scalar_type());
  use_saved_output_size(g, input_, output_, "softpool3d backward");
  TORCH_CHECK(grad_output_.sizes() == output_.sizes() && lse_.sizes() == output_.sizes(),
              "softpool3d backward: grad_output ", grad_output_.sizes(), ", output ",
              output_.sizes(), " and lse ", lse_.sizes(), " must have the same shape");
  TORCH_CHECK(lse_.scalar_type() == lse_dtype(input_), "softpool3d backward: lse must be ",
              lse_dtype(input_), " for a ", input_.scalar_type(), " input, got ", lse_.scalar_type());
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt);
  const at::Tensor grad_output = grad_output_.contiguous(fmt);
  const at::Tensor output = output_.contiguous(fmt);
  const at::Tensor lse = lse_.contiguous(fmt);
  at::Tensor grad_input = at::empty(input.sizes(), input.options().memory_format(fmt));
  if (grad_input.numel() == 0) return grad_input;
  if (input.is_cuda()) {
#ifdef SOFTPOOL_WITH_CUDA
    backward_cuda(grad_output, input, output, lse, g, paper_grad, grad_input);
#endif
  } else {
    backward_cpu(grad_output, input, output, lse, g, paper_grad, grad_input);
  }
  return grad_input;
}

}  // namespace

TORCH_LIBRARY(softpool3d, m) {
  m.def("soft_pool_forward(Tensor input, int[3] kernel_size, int[3] stride, int[3] padding, "
        "bool ceil_mode, bool paper_grad) -> (Tensor output, Tensor lse)");
  m.def("soft_pool_backward(Tensor grad_output, Tensor input, Tensor output, Tensor lse, "
        "int[3] kernel_size, int[3] stride, int[3] padding, bool paper_grad) -> Tensor");
}

TORCH_LIBRARY_IMPL(softpool3d, CPU, m) {
  m.impl("soft_pool_forward", &forward);
  m.impl("soft_pool_backward", &backward);
}

#ifdef SOFTPOOL_WITH_CUDA
TORCH_LIBRARY_IMPL(softpool3d, CUDA, m) {
  m.impl("soft_pool_forward", &forward);
  m.impl("soft_pool_backward", &backward);
}
#endif

}  // namespace softpool

// `import softpool3d._C` loads this library, whose static initialisers register the ops above.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
