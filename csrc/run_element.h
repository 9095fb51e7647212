// run_element<channels_last>(i, args): the per-element body of the op whose arguments `args` are,
// for the one kernel template (cuda/element_kernel.h) and its emulation
// (testing/emulated_launch.h).
#pragma once

#include <utility>

#include "adapool_device_body.h"
#include "softpool_device_body.h"

namespace softpool {
namespace body {

template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void run_element(index_t i, const ForwardArgs<scalar_t, index_t>& A) {
  forward_element<channels_last>(i, A);
}
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void run_element(index_t i, const BackwardArgs<scalar_t, index_t>& A) {
  backward_element<channels_last>(i, A);
}
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void run_element(index_t i, const ada::ForwardArgs<scalar_t, index_t>& A) {
  ada::forward_element<channels_last>(i, A);
}
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void run_element(index_t i, const ada::BackwardArgs<scalar_t, index_t>& A) {
  ada::backward_element<channels_last>(i, A);
}

// The index type of an op's arguments.
template <typename Args>
using index_of = decltype(std::declval<const Args&>().in.n);

}  // namespace body
}  // namespace softpool
