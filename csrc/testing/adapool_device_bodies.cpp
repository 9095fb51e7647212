// Test-only ops (not public API): run the AdaPool per-element bodies (adapool_device_body.h) on
// the host in a loop that emulates a CUDA launch of `grid` blocks of `block` threads, each walking
// the grid-stride loop, with 32- or 64-bit indices, so the CUDA kernels' maths and indexing are
// tested on a CPU. Arguments and outputs as softpool3d::ada_pool_forward / ada_pool_backward, plus
// the index width and the emulated launch shape. Outputs start as NaN: a missed index shows.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>
#include <torch/library.h>

#include <limits>
#include <type_traits>
#include <vector>

#include "adapool.h"
#include "adapool_device_body.h"

namespace softpool {
namespace {

template <typename F>
void emulate(int64_t total, int64_t grid, int64_t block, F&& f) {
  TORCH_CHECK(grid > 0 && block > 0 && grid < (int64_t(1) << 31) && block <= 1024,
              "device body: bad launch shape ", grid, " x ", block);
  for (int64_t b = 0; b < grid; ++b)
    for (int64_t t = 0; t < block; ++t)
      body::grid_stride_loop(total, uint32_t(grid), uint32_t(block), uint32_t(b), uint32_t(t), f);
}

template <typename F>
void with_bits_and_layout(int64_t index_bits, bool channels_last, F&& f) {
  TORCH_CHECK(index_bits == 32 || index_bits == 64, "device body: index_bits must be 32 or 64");
  if (index_bits == 32) {
    channels_last ? f(int32_t(0), std::true_type{}) : f(int32_t(0), std::false_type{});
  } else {
    channels_last ? f(int64_t(0), std::true_type{}) : f(int64_t(0), std::false_type{});
  }
}

at::Tensor nan_tensor(c10::IntArrayRef shape, const at::TensorOptions& opts, c10::MemoryFormat fmt) {
  return at::full(shape, std::numeric_limits<double>::quiet_NaN(), opts).contiguous(fmt);
}

void check_bits(int64_t index_bits, std::initializer_list<at::Tensor> tensors) {
  if (index_bits != 32) return;
  for (const auto& t : tensors)
    TORCH_CHECK(body::fits_int32(t), "device body: 32-bit indexing needs numel < 2^31");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ada_body_forward(
    const at::Tensor& input_, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
    c10::IntArrayRef padding, bool ceil_mode, int64_t index_bits, int64_t grid, int64_t block) {
  TORCH_CHECK(input_.device().is_cpu(), "device body ops run on CPU tensors");
  const PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, ceil_mode);
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt);
  std::vector<int64_t> shape = {input.size(0), input.size(1), g.out[0], g.out[1], g.out[2]};
  std::vector<int64_t> stats_shape = shape;
  stats_shape[0] *= kAdaStats;
  const auto acc = input.options().dtype(at::toOpMathType(input.scalar_type()));
  at::Tensor edscw = nan_tensor(shape, acc, fmt), em = nan_tensor(shape, acc, fmt);
  at::Tensor stats = nan_tensor(stats_shape, acc, fmt);
  check_bits(index_bits, {input, stats});
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "ada_body_fwd",
                                  [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_bits_and_layout(index_bits, fmt == c10::MemoryFormat::ChannelsLast3d,
                         [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const ada::ForwardArgs<scalar_t, index_t> args{
          input.const_data_ptr<scalar_t>(), body::dims_of<index_t>(input),
          edscw.mutable_data_ptr<acc_t>(), em.mutable_data_ptr<acc_t>(),
          stats.mutable_data_ptr<acc_t>(), edscw.numel(), body::dims_of<index_t>(edscw),
          body::window_of(g)};
      emulate(edscw.numel(), grid, block, [&](int64_t i) {
        ada::forward_element<decltype(cl_tag)::value>(static_cast<index_t>(i), args);
      });
    });
  });
  return {edscw, em, stats};
}

at::Tensor ada_body_backward(const at::Tensor& grad_edscw_, const at::Tensor& grad_em_,
                             const at::Tensor& input_, const at::Tensor& edscw_,
                             const at::Tensor& em_, const at::Tensor& stats_,
                             c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                             c10::IntArrayRef padding, int64_t index_bits, int64_t grid,
                             int64_t block) {
  TORCH_CHECK(input_.device().is_cpu(), "device body ops run on CPU tensors");
  PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, true);
  TORCH_CHECK(edscw_.dim() == 5 && edscw_.size(0) == input_.size(0) &&
                  edscw_.size(1) == input_.size(1),
              "device body: output shape does not match the input");
  for (int d = 0; d < 3; ++d) g.out[d] = edscw_.size(2 + d);
  const auto acc_type = at::toOpMathType(input_.scalar_type());
  std::vector<int64_t> stats_shape(edscw_.sizes().begin(), edscw_.sizes().end());
  stats_shape[0] *= kAdaStats;
  TORCH_CHECK(grad_edscw_.sizes() == edscw_.sizes() && grad_em_.sizes() == edscw_.sizes() &&
                  em_.sizes() == edscw_.sizes() && stats_.sizes() == c10::IntArrayRef(stats_shape),
              "device body: gradients/outputs/stats do not match");
  for (const auto* t : {&grad_edscw_, &grad_em_, &edscw_, &em_, &stats_})
    TORCH_CHECK(t->scalar_type() == acc_type, "device body: expected ", acc_type);
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt);
  const at::Tensor gd = grad_edscw_.contiguous(fmt), gm = grad_em_.contiguous(fmt);
  const at::Tensor edscw = edscw_.contiguous(fmt), em = em_.contiguous(fmt);
  const at::Tensor stats = stats_.contiguous(fmt);
  check_bits(index_bits, {input, stats});
  at::Tensor grad_input = nan_tensor(input.sizes(), input.options(), fmt);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "ada_body_bwd",
                                  [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_bits_and_layout(index_bits, fmt == c10::MemoryFormat::ChannelsLast3d,
                         [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const ada::BackwardArgs<scalar_t, index_t> args{
          gd.const_data_ptr<acc_t>(), gm.const_data_ptr<acc_t>(),
          input.const_data_ptr<scalar_t>(), edscw.const_data_ptr<acc_t>(),
          em.const_data_ptr<acc_t>(), stats.const_data_ptr<acc_t>(), edscw.numel(),
          body::dims_of<index_t>(input), body::dims_of<index_t>(edscw), body::window_of(g),
          grad_input.mutable_data_ptr<scalar_t>()};
      emulate(input.numel(), grid, block, [&](int64_t i) {
        ada::backward_element<decltype(cl_tag)::value>(static_cast<index_t>(i), args);
      });
    });
  });
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(softpool3d, m) {
  m.def("_ada_device_body_forward(Tensor input, int[3] kernel_size, int[3] stride, "
        "int[3] padding, bool ceil_mode, int index_bits, int grid, int block) "
        "-> (Tensor, Tensor, Tensor)",
        &ada_body_forward);
  m.def("_ada_device_body_backward(Tensor grad_edscw, Tensor grad_em, Tensor input, "
        "Tensor edscw, Tensor em, Tensor stats, int[3] kernel_size, int[3] stride, "
        "int[3] padding, int index_bits, int grid, int block) -> Tensor",
        &ada_body_backward);
}

}  // namespace softpool
