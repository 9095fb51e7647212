// Shared declarations of the AdaPool operator (softpool3d::ada_pool_forward / ada_pool_backward):
// one pass over each window gives both of AdaPool's halves, the eDSCW pool and the eM pool
// (SoftPool); the beta mix y = em + b (edscw - em) is done by the caller (softpool3d/adapool.py),
// so beta's gradient and broadcasting come from autograd.
#pragma once

#include <ATen/core/Tensor.h>

#include "softpool.h"

namespace softpool {

// Saved per-output statistics, planes of a (kAdaStats * N, C, OD, OH, OW) tensor in the output's
// layout and accumulation type: plane 0 = lse of the eM weights relative to the stored em output
// (as SoftPool's lse), 1 = 1 / sum_R exp(dsc_k - 1), 2 = the window mean m, 3 = Q, the term every
// cell's eDSCW gradient gets through m: Q = (1/n) sum_R w^D_k (x_k - y^D) d dsc_k / d m.
constexpr int64_t kAdaStats = 4;

// All tensors in memory_format_of(input); edscw, em, stats preallocated in the accumulation type.
void ada_forward_cpu(const at::Tensor& input, const PoolGeometry& g, at::Tensor& edscw,
                     at::Tensor& em, at::Tensor& stats);
void ada_backward_cpu(const at::Tensor& grad_edscw, const at::Tensor& grad_em,
                      const at::Tensor& input, const at::Tensor& edscw, const at::Tensor& em,
                      const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input);
#ifdef SOFTPOOL_WITH_CUDA
void ada_forward_cuda(const at::Tensor& input, const PoolGeometry& g, at::Tensor& edscw,
                      at::Tensor& em, at::Tensor& stats);
void ada_backward_cuda(const at::Tensor& grad_edscw, const at::Tensor& grad_em,
                       const at::Tensor& input, const at::Tensor& edscw, const at::Tensor& em,
                       const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input);
#endif

}  // namespace softpool
