// Test-only ops (softpool3d._C_testing, built with SOFTPOOL_BUILD_TEST_OPS=1; not public API): run
// the CUDA kernels' per-element bodies (softpool_device_body.h) on the host in an emulated launch
// (emulated_launch.h). Arguments and outputs as softpool3d::soft_pool_forward / soft_pool_backward,
// plus the index width (32 or 64) and the emulated launch shape.
#include <Python.h>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "launch.h"
#include "softpool.h"
#include "softpool_device_body.h"
#include "testing/emulated_launch.h"

namespace softpool {
namespace testing {
namespace {

std::tuple<at::Tensor, at::Tensor> device_body_forward(
    const at::Tensor& input_, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
    c10::IntArrayRef padding, bool ceil_mode, int64_t index_bits, int64_t grid, int64_t block) {
  TORCH_CHECK(input_.device().is_cpu(), "device body ops run on CPU tensors");
  const auto [g, fmt, input, shape] = forward_call(input_, kernel_size, stride, padding, ceil_mode);
  check_index_bits(index_bits, {input});
  TORCH_CHECK(index_bits != 32 || input.size(0) * input.size(1) * g.out[0] * g.out[1] * g.out[2] <
                                      std::numeric_limits<int32_t>::max(),
              "device body: 32-bit indexing needs numel < 2^31");
  at::Tensor output = nan_like(shape, input.options(), fmt);
  at::Tensor lse = nan_like(shape, input.options().dtype(at::toOpMathType(input.scalar_type())), fmt);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "device_body_fwd", [&] {
    emulate_launch(output.numel(), grid, block, index_bits, fmt, [&](auto index_zero) {
      return body::forward_args<scalar_t, decltype(index_zero)>(input, g, output, lse);
    });
  });
  return {output, lse};
}

at::Tensor device_body_backward(const at::Tensor& grad_output_, const at::Tensor& input_,
                                const at::Tensor& output_, const at::Tensor& lse_,
                                c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                c10::IntArrayRef padding, bool paper_grad, int64_t index_bits,
                                int64_t grid, int64_t block) {
  TORCH_CHECK(input_.device().is_cpu(), "device body ops run on CPU tensors");
  PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, /*ceil_mode=*/true);
  use_saved_output_size(g, input_, output_, "device body backward");
  TORCH_CHECK(grad_output_.sizes() == output_.sizes() && lse_.sizes() == output_.sizes() &&
                  grad_output_.scalar_type() == input_.scalar_type() &&
                  output_.scalar_type() == input_.scalar_type() &&
                  lse_.scalar_type() == at::toOpMathType(input_.scalar_type()),
              "device body: grad_output/output/lse do not match the input");
  check_index_bits(index_bits, {input_, output_});
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt), grad_output = grad_output_.contiguous(fmt);
  const at::Tensor output = output_.contiguous(fmt), lse = lse_.contiguous(fmt);
  at::Tensor grad_input = nan_like(input.sizes(), input.options(), fmt);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "device_body_bwd", [&] {
    emulate_launch(input.numel(), grid, block, index_bits, fmt, [&](auto index_zero) {
      return body::backward_args<scalar_t, decltype(index_zero)>(grad_output, input, output, lse,
                                                                 g, paper_grad, grad_input);
    });
  });
  return grad_input;
}

// The indices one thread of a launch visits (at most max_visits), and the launch's grid size.
at::Tensor grid_stride_visits(int64_t total, int64_t grid, int64_t block, int64_t block_index,
                              int64_t thread, int64_t max_visits) {
  std::vector<int64_t> visits;
  body::grid_stride_loop(total, uint32_t(grid), uint32_t(block), uint32_t(block_index),
                         uint32_t(thread), [&](int64_t i) {
    if (int64_t(visits.size()) < max_visits) visits.push_back(i);
  });
  at::Tensor out = at::empty({int64_t(visits.size())}, at::TensorOptions().dtype(at::kLong));
  std::copy(visits.begin(), visits.end(), out.mutable_data_ptr<int64_t>());
  return out;
}

int64_t launch_blocks(int64_t total) { return body::launch_blocks(total); }
int64_t launch_threads() { return body::kThreads; }

}  // namespace

TORCH_LIBRARY_FRAGMENT(softpool3d_testing, m) {
  m.def("device_body_forward(Tensor input, int[3] kernel_size, int[3] stride, int[3] padding, "
        "bool ceil_mode, int index_bits, int grid, int block) -> (Tensor, Tensor)",
        &device_body_forward);
  m.def("device_body_backward(Tensor grad_output, Tensor input, Tensor output, Tensor lse, "
        "int[3] kernel_size, int[3] stride, int[3] padding, bool paper_grad, int index_bits, "
        "int grid, int block) -> Tensor",
        &device_body_backward);
  m.def("grid_stride_visits(int total, int grid, int block, int block_index, int thread, "
        "int max_visits) -> Tensor",
        &grid_stride_visits);
  m.def("launch_blocks(int total) -> int", &launch_blocks);
  m.def("launch_threads() -> int", &launch_threads);
}

}  // namespace testing
}  // namespace softpool

// `import softpool3d._C_testing` loads this library, whose static initialisers register the ops.
extern "C" PyObject* PyInit__C_testing(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C_testing", nullptr, -1,
                                          nullptr};
  return PyModule_Create(&module_def);
}
