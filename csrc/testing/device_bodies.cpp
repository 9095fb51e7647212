// Test-only ops (not public API): run the CUDA kernels' per-element bodies (softpool_device_body.h)
// on the host, in a loop that emulates a launch of `grid` blocks of `block` threads, each walking
// the grid-stride loop. Arguments and outputs as softpool3d::forward / ::backward, plus the index
// width (32 or 64) and the emulated launch shape.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <torch/library.h>

#include <limits>
#include <type_traits>
#include <vector>

#include "softpool.h"
#include "softpool_device_body.h"

namespace softpool {
namespace {

// Runs body(i) for every index a launch of grid x block threads visits, in launch order.
template <typename F>
void emulate_launch(int64_t total, int64_t grid, int64_t block, F&& f) {
  TORCH_CHECK(grid > 0 && block > 0 && grid < (int64_t(1) << 31) && block <= 1024,
              "device body: bad launch shape ", grid, " x ", block);
  for (int64_t b = 0; b < grid; ++b)
    for (int64_t t = 0; t < block; ++t)
      body::grid_stride_loop(total, uint32_t(grid), uint32_t(block), uint32_t(b), uint32_t(t), f);
}

template <typename F>
void with_index_and_layout(int64_t index_bits, bool channels_last, F&& f) {
  TORCH_CHECK(index_bits == 32 || index_bits == 64, "device body: index_bits must be 32 or 64");
  if (index_bits == 32) {
    channels_last ? f(int32_t(0), std::true_type{}) : f(int32_t(0), std::false_type{});
  } else {
    channels_last ? f(int64_t(0), std::true_type{}) : f(int64_t(0), std::false_type{});
  }
}

at::Tensor nan_like(c10::IntArrayRef shape, const at::TensorOptions& opts, c10::MemoryFormat fmt) {
  return at::full(shape, std::numeric_limits<double>::quiet_NaN(), opts).contiguous(fmt);
}

void check_fits(int64_t index_bits, std::initializer_list<at::Tensor> tensors) {
  if (index_bits != 32) return;
  for (const auto& t : tensors)
    TORCH_CHECK(body::fits_int32(t), "device body: 32-bit indexing needs numel < 2^31");
}

std::tuple<at::Tensor, at::Tensor> device_body_forward(
    const at::Tensor& input_, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
    c10::IntArrayRef padding, bool ceil_mode, int64_t index_bits, int64_t grid, int64_t block) {
  TORCH_CHECK(input_.device().is_cpu(), "device body ops run on CPU tensors");
  const PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, ceil_mode);
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt);
  std::vector<int64_t> shape = {input.size(0), input.size(1), g.out[0], g.out[1], g.out[2]};
  check_fits(index_bits, {input});
  TORCH_CHECK(index_bits != 32 || input.size(0) * input.size(1) * g.out[0] * g.out[1] * g.out[2] <
                                      std::numeric_limits<int32_t>::max(),
              "device body: 32-bit indexing needs numel < 2^31");
  // NaN-filled, so an index the launch never visits cannot pass a test.
  at::Tensor output = nan_like(shape, input.options(), fmt);
  at::Tensor lse = nan_like(shape, input.options().dtype(at::toOpMathType(input.scalar_type())), fmt);
  const body::Window win = body::window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "device_body_fwd",
                                  [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_and_layout(index_bits, fmt == c10::MemoryFormat::ChannelsLast3d,
                          [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const body::ForwardArgs<scalar_t, index_t> args{
          input.const_data_ptr<scalar_t>(), body::dims_of<index_t>(input),
          output.mutable_data_ptr<scalar_t>(), lse.mutable_data_ptr<acc_t>(),
          body::dims_of<index_t>(output), win};
      emulate_launch(output.numel(), grid, block, [&](int64_t i) {
        body::forward_element<decltype(cl_tag)::value>(static_cast<index_t>(i), args);
      });
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
  // Checks and layout as softpool3d::backward: validate through the public op's wrapper rules.
  PoolGeometry g = make_geometry(input_, kernel_size, stride, padding, true);  // ceil: the larger size
  TORCH_CHECK(output_.dim() == 5 && output_.size(0) == input_.size(0) &&
                  output_.size(1) == input_.size(1),
              "device body: output shape does not match the input");
  for (int d = 0; d < 3; ++d) g.out[d] = output_.size(2 + d);
  TORCH_CHECK(grad_output_.sizes() == output_.sizes() && lse_.sizes() == output_.sizes() &&
                  grad_output_.scalar_type() == input_.scalar_type() &&
                  output_.scalar_type() == input_.scalar_type() &&
                  lse_.scalar_type() == at::toOpMathType(input_.scalar_type()),
              "device body: grad_output/output/lse do not match the input");
  check_fits(index_bits, {input_, output_});
  const auto fmt = memory_format_of(input_);
  const at::Tensor input = input_.contiguous(fmt), grad_output = grad_output_.contiguous(fmt);
  const at::Tensor output = output_.contiguous(fmt), lse = lse_.contiguous(fmt);
  at::Tensor grad_input = nan_like(input.sizes(), input.options(), fmt);
  const body::Window win = body::window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "device_body_bwd",
                                  [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_and_layout(index_bits, fmt == c10::MemoryFormat::ChannelsLast3d,
                          [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      const body::BackwardArgs<scalar_t, index_t> args{
          grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
          output.const_data_ptr<scalar_t>(), lse.const_data_ptr<acc_t>(),
          body::dims_of<index_t>(input), body::dims_of<index_t>(output), win, paper_grad,
          grad_input.mutable_data_ptr<scalar_t>()};
      emulate_launch(input.numel(), grid, block, [&](int64_t i) {
        body::backward_element<decltype(cl_tag)::value>(static_cast<index_t>(i), args);
      });
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

TORCH_LIBRARY_FRAGMENT(softpool3d, m) {
  m.def("_device_body_forward(Tensor input, int[3] kernel_size, int[3] stride, int[3] padding, "
        "bool ceil_mode, int index_bits, int grid, int block) -> (Tensor, Tensor)",
        &device_body_forward);
  m.def("_device_body_backward(Tensor grad_output, Tensor input, Tensor output, Tensor lse, "
        "int[3] kernel_size, int[3] stride, int[3] padding, bool paper_grad, int index_bits, "
        "int grid, int block) -> Tensor",
        &device_body_backward);
  m.def("_grid_stride_visits(int total, int grid, int block, int block_index, int thread, "
        "int max_visits) -> Tensor",
        &grid_stride_visits);
  m.def("_launch_blocks(int total) -> int", &launch_blocks);
  m.def("_launch_threads() -> int", &launch_threads);
}

}  // namespace softpool
