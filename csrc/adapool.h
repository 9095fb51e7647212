// Shared declarations of the AdaPool operator (softpool3d::ada_pool_forward / ada_pool_backward):
// one pass over each window gives both of AdaPool's halves, the eDSCW pool and the eM pool
// (SoftPool), and their mix y = b edscw + (1 - b) em with the caller's b = clamp(beta, 0, 1) (one
// weight or one per output). The halves are saved; beta's gradient g (edscw - em), its clamp and
// its broadcasting are the caller's (softpool3d/adapool.py).
#pragma once

#include <ATen/ExpandUtils.h>
#include <ATen/core/Tensor.h>

#include "softpool.h"

namespace softpool {

// Saved per-output statistics, planes of a (kAdaStats * N, C, OD, OH, OW) tensor in the output's
// layout and accumulation type: plane 0 = lse of the eM weights relative to the stored em output
// (as SoftPool's lse), 1 = 1 / sum_R exp(dsc_k - 1), 2 = the window mean m, 3 = Q, the term every
// cell's eDSCW gradient gets through m: Q = (1/n) sum_R w^D_k (x_k - y^D) d dsc_k / d m,
// 4 = y^M (eM), 5 = y^D (eDSCW).
constexpr int64_t kAdaEm = 4;
constexpr int64_t kAdaEdscw = 5;
constexpr int64_t kAdaStats = 6;

// The mix weight b of a call as the kernels read it: a one-element tensor as it is (every output
// uses it), anything else broadcast to the output's `shape` and made dense in `fmt`; checked to be
// in the accumulation type `acc` on `device`. `op` names the caller in errors.
inline at::Tensor ada_mix_weight(const at::Tensor& beta, c10::IntArrayRef shape,
                                 c10::MemoryFormat fmt, const c10::Device& device,
                                 c10::ScalarType acc, const char* op) {
  TORCH_CHECK(beta.device() == device, op, ": beta must be on the input's device ", device,
              ", got ", beta.device());
  TORCH_CHECK(beta.scalar_type() == acc, op, ": beta must be ", acc, " (the accumulation type of ",
              "the input), got ", beta.scalar_type());
  if (beta.numel() == 1) return beta.contiguous();
  TORCH_CHECK(at::is_expandable_to(beta.sizes(), shape), op, ": beta of shape ", beta.sizes(),
              " does not broadcast to the output shape ", shape);
  return beta.expand(shape).contiguous(fmt);
}

// The kernels' step through b (ada_mix_weight's result): 0 for one weight, 1 for one per output.
inline int64_t ada_mix_step(const at::Tensor& b) { return b.numel() == 1 ? 0 : 1; }

// All tensors in memory_format_of(input); output (input's dtype) and stats preallocated; b, in the
// accumulation type, has one element or the output's shape and layout; grad (of the output) is
// in the accumulation type with the output's shape and layout.
void ada_forward_cpu(const at::Tensor& input, const at::Tensor& b, const PoolGeometry& g,
                     at::Tensor& output, at::Tensor& stats);
void ada_backward_cpu(const at::Tensor& grad, const at::Tensor& b, const at::Tensor& input,
                      const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input);
#ifdef SOFTPOOL_WITH_CUDA
void ada_forward_cuda(const at::Tensor& input, const at::Tensor& b, const PoolGeometry& g,
                      at::Tensor& output, at::Tensor& stats);
void ada_backward_cuda(const at::Tensor& grad, const at::Tensor& b, const at::Tensor& input,
                       const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input);
#endif

}  // namespace softpool
