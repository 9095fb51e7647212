// Lane loops of the CPU SoftPool kernels: element-wise work over a contiguous run of "lanes"
// (output columns for contiguous tensors, channels for channels_last_3d), in the accumulation type.
// The float versions are compiled for AVX2+FMA and for the baseline ISA (picked at load time).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "softpool.h"

namespace softpool {
namespace cpu {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SOFTPOOL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SOFTPOOL_CLONES
#endif

// exp(x) for x <= 88 in float, with a ~1 ulp polynomial that vectorises: 0 below -87.3 (where
// float exp leaves the normal range), NaN stays NaN. Range reduction x = n ln2 + r, |r| <= ln2 / 2.
#pragma omp declare simd notinbranch
inline float exp_vec(float x) {
  float xc = x < -87.3f ? -87.3f : x;
  xc = xc > 88.f ? 88.f : xc;
  const float shifter = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer in the mantissa
  float t = xc * 1.44269504088896341f + shifter;
  float n = t - shifter;
  int32_t t_bits, s_bits;
  std::memcpy(&t_bits, &t, 4);
  std::memcpy(&s_bits, &shifter, 4);
  const int32_t ni = t_bits - s_bits;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t scale_bits = (ni + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, 4);
  const float result = p * scale;
  return x < -87.3f ? 0.f : result;
}
inline double exp_vec(double x) { return std::exp(x); }

// m = max(m, x) over n lanes.
template <typename acc_t>
inline void max_lanes(const acc_t* __restrict x, acc_t* __restrict m, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) m[i] = x[i] > m[i] ? x[i] : m[i];
}

// With d = shifted(x, m) (x - m, clamped; 0 for x == m, also at infinity): s += e^d, t += d e^d.
template <typename acc_t>
inline void accumulate_lanes(const acc_t* __restrict x, const acc_t* __restrict m,
                             acc_t* __restrict s, acc_t* __restrict t, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const acc_t d = shifted<acc_t>(x[i], m[i]);
    const acc_t e = exp_vec(d);
    s[i] += e;
    t[i] += e * d;
  }
}

// The gradient reaching input lanes x from one window each: g w (1 + x - y) (exact) or g w (the
// paper's rule), with w = e^(x - y - lse) and lse = log sum_j e^(a_j - y) the saved normaliser.
template <typename acc_t>
inline void grad_lanes(const acc_t* __restrict x, const acc_t* __restrict y,
                       const acc_t* __restrict lse, const acc_t* __restrict g,
                       acc_t* __restrict out, int64_t n, bool paper) {
  if (paper) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i)
      out[i] = g[i] * exp_vec(shifted<acc_t>(x[i], y[i]) - lse[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const acc_t d = shifted<acc_t>(x[i], y[i]);
      out[i] = g[i] * exp_vec(d - lse[i]) * (acc_t(1) + d);
    }
  }
}

// Float entry points, cloned per ISA.
SOFTPOOL_CLONES void max_lanes_f(const float* x, float* m, int64_t n);
SOFTPOOL_CLONES void accumulate_lanes_f(const float* x, const float* m, float* s, float* t,
                                        int64_t n);
SOFTPOOL_CLONES void grad_lanes_f(const float* x, const float* y, const float* lse, const float* g,
                                  float* out, int64_t n, bool paper);

inline void max_lanes_any(const float* x, float* m, int64_t n) { max_lanes_f(x, m, n); }
inline void max_lanes_any(const double* x, double* m, int64_t n) { max_lanes(x, m, n); }
inline void accumulate_lanes_any(const float* x, const float* m, float* s, float* t, int64_t n) {
  accumulate_lanes_f(x, m, s, t, n);
}
inline void accumulate_lanes_any(const double* x, const double* m, double* s, double* t,
                                 int64_t n) {
  accumulate_lanes(x, m, s, t, n);
}
inline void grad_lanes_any(const float* x, const float* y, const float* lse, const float* g,
                           float* out, int64_t n, bool paper) {
  grad_lanes_f(x, y, lse, g, out, n, paper);
}
inline void grad_lanes_any(const double* x, const double* y, const double* lse, const double* g,
                           double* out, int64_t n, bool paper) {
  grad_lanes(x, y, lse, g, out, n, paper);
}

}  // namespace cpu
}  // namespace softpool
