// Test-only ops (softpool3d._C_testing; not public API): run the AdaPool per-element bodies
// (adapool_device_body.h) on the host in an emulated launch (emulated_launch.h), so the CUDA
// kernels' maths and indexing are tested on a CPU. Arguments and outputs as
// softpool3d::ada_pool_forward / ada_pool_backward, plus the index width (32 or 64) and the
// emulated launch shape.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <vector>

#include "adapool.h"
#include "adapool_device_body.h"
#include "launch.h"
#include "testing/emulated_launch.h"

namespace softpool {
namespace testing {
namespace {

std::tuple<at::Tensor, at::Tensor> ada_body_forward(
    const at::Tensor& input_, const at::Tensor& beta, c10::IntArrayRef kernel_size,
    c10::IntArrayRef stride, c10::IntArrayRef padding, bool ceil_mode, int64_t index_bits,
    int64_t grid, int64_t block) {
  TORCH_CHECK(input_.device().is_cpu(), "device body ops run on CPU tensors");
  const auto [g, fmt, input, shape] = forward_call(input_, kernel_size, stride, padding, ceil_mode);
  const auto acc_type = at::toOpMathType(input.scalar_type());
  const at::Tensor b = ada_mix_weight(beta, shape, fmt, input.device(), acc_type, "device body");
  std::vector<int64_t> stats_shape = shape;
  stats_shape[0] *= kAdaStats;
  at::Tensor output = nan_like(shape, input.options(), fmt);
  at::Tensor stats = nan_like(stats_shape, input.options().dtype(acc_type), fmt);
  check_index_bits(index_bits, {input, stats});
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "ada_body_fwd",
                                  [&] {
    emulate_launch(output.numel(), grid, block, index_bits, fmt, [&](auto index_zero) {
      return ada::forward_args<scalar_t, decltype(index_zero)>(input, b, g, output, stats);
    });
  });
  return {output, stats};
}

at::Tensor ada_body_backward(const at::Tensor& grad_output, const at::Tensor& input_,
                             const at::Tensor& beta, const at::Tensor& stats_,
                             c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                             c10::IntArrayRef padding, int64_t index_bits, int64_t grid,
                             int64_t block) {
  TORCH_CHECK(input_.device().is_cpu(), "device body ops run on CPU tensors");
  PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, /*ceil_mode=*/true);
  use_saved_output_size(g, input_, grad_output, "device body backward");
  const auto acc_type = at::toOpMathType(input_.scalar_type());
  std::vector<int64_t> stats_shape(grad_output.sizes().begin(), grad_output.sizes().end());
  stats_shape[0] *= kAdaStats;
  TORCH_CHECK(stats_.sizes() == c10::IntArrayRef(stats_shape),
              "device body: gradient and stats do not match");
  TORCH_CHECK(stats_.scalar_type() == acc_type, "device body: expected ", acc_type);
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt);
  const at::Tensor grad = grad_output.to(acc_type).contiguous(fmt);
  const at::Tensor b = ada_mix_weight(beta, grad.sizes(), fmt, input.device(), acc_type,
                                      "device body");
  const at::Tensor stats = stats_.contiguous(fmt);
  check_index_bits(index_bits, {input, stats});
  at::Tensor grad_input = nan_like(input.sizes(), input.options(), fmt);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "ada_body_bwd",
                                  [&] {
    emulate_launch(input.numel(), grid, block, index_bits, fmt, [&](auto index_zero) {
      return ada::backward_args<scalar_t, decltype(index_zero)>(grad, b, input, stats, g,
                                                                grad_input);
    });
  });
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(softpool3d_testing, m) {
  m.def("ada_device_body_forward(Tensor input, Tensor beta, int[3] kernel_size, int[3] stride, "
        "int[3] padding, bool ceil_mode, int index_bits, int grid, int block) "
        "-> (Tensor, Tensor)",
        &ada_body_forward);
  m.def("ada_device_body_backward(Tensor grad_output, Tensor input, Tensor beta, Tensor stats, "
        "int[3] kernel_size, int[3] stride, int[3] padding, int index_bits, int grid, "
        "int block) -> Tensor",
        &ada_body_backward);
}

}  // namespace testing
}  // namespace softpool
