// The argument checks shared by every op (softpool.h); built into softpool3d._C and, for the
// test-only ops, softpool3d._C_testing.
#include <ATen/core/Tensor.h>

#include "softpool.h"

namespace softpool {

PoolGeometry make_geometry(const at::Tensor& input, c10::IntArrayRef kernel_size,
                           c10::IntArrayRef stride, c10::IntArrayRef padding, bool ceil_mode) {
  TORCH_CHECK(input.dim() == 5, "softpool3d: expected a 5D (N, C, D, H, W) input, got ",
              input.dim(), "D");
  TORCH_CHECK(at::isFloatingType(input.scalar_type()),
              "softpool3d: expected a floating-point input, got ", input.scalar_type());
  TORCH_CHECK(kernel_size.size() == 3 && stride.size() == 3 && padding.size() == 3,
              "softpool3d: kernel_size, stride and padding must have 3 values each");
  PoolGeometry g;
  for (int d = 0; d < 3; ++d) {
    g.kernel[d] = kernel_size[d];
    g.stride[d] = stride[d];
    g.padding[d] = padding[d];
    g.in[d] = input.size(2 + d);
    TORCH_CHECK(g.kernel[d] > 0 && g.stride[d] > 0,
                "softpool3d: kernel_size and stride must be positive, got ", kernel_size, " and ",
                stride);
    TORCH_CHECK(g.padding[d] >= 0 && g.padding[d] <= g.kernel[d] / 2,
                "softpool3d: padding ", padding, " must be >= 0 and at most half of kernel_size ",
                kernel_size);
    TORCH_CHECK(g.in[d] > 0, "softpool3d: spatial dimensions must be non-empty, got ",
                input.sizes());
    // As in max pooling, a kernel larger than the padded input is legal where ceil_mode still
    // gives an output: its one window is clamped to the real cells.
    g.out[d] = pooled_size(g.in[d], g.kernel[d], g.stride[d], g.padding[d], ceil_mode);
    TORCH_CHECK(g.out[d] > 0, "softpool3d: kernel_size ", kernel_size,
                " is larger than the padded input ", input.sizes().slice(2),
                ": the output would be empty");
  }
  return g;
}

ForwardCall forward_call(const at::Tensor& input, c10::IntArrayRef kernel_size,
                         c10::IntArrayRef stride, c10::IntArrayRef padding, bool ceil_mode) {
  const PoolGeometry g = make_geometry(input, kernel_size, stride, padding, ceil_mode);
  const auto fmt = memory_format_of(input);
  return {g, fmt, input.contiguous(fmt),
          {input.size(0), input.size(1), g.out[0], g.out[1], g.out[2]}};
}

void use_saved_output_size(PoolGeometry& g, const at::Tensor& input, const at::Tensor& output,
                           const char* op) {
  TORCH_CHECK(output.dim() == 5 && output.size(0) == input.size(0) &&
                  output.size(1) == input.size(1),
              op, ": output ", output.sizes(), " does not match input ", input.sizes());
  for (int d = 0; d < 3; ++d) {
    const int64_t out = output.size(2 + d);
    TORCH_CHECK(out == g.out[d] ||
                    out == pooled_size(g.in[d], g.kernel[d], g.stride[d], g.padding[d], false),
                op, ": output size ", output.sizes(), " does not match the pooling arguments");
    g.out[d] = out;
  }
}

}  // namespace softpool
