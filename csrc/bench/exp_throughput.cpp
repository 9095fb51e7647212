// Throughput of the CPU kernels' vector exp (cpu/lanes.h) and of one SoftPool lane pass
// (accumulate_lanes: exp + 2 FMAs), per ISA clone, single thread. Not part of the extension.
// Build: g++ -O3 -fopenmp -fno-trapping-math -std=c++20 -I csrc \
//          -I .venv/lib/python3.11/site-packages/torch/include csrc/bench/exp_throughput.cpp -o /tmp/expbench
#include <chrono>
#include <cstdio>
#include <vector>

#include "cpu/lanes.h"

using namespace softpool::cpu;

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

CLONES void exp_only(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = exp_vec(x[i]);
}
CLONES void accumulate(const float* x, const float* m, float* s, float* t, int64_t n) {
  accumulate_lanes(x, m, s, t, n);
}

template <typename F>
double ns_per_element(F&& f, int64_t n, int reps) {
  f();
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (double(n) * reps);
}

int main() {
  const int64_t n = 256;  // one L1-resident lane chunk, as in the kernels
  std::vector<float> x(n), y(n), m(n, 0.5f), s(n), t(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -3.f + 6.f * float(i) / n;
  const int reps = 400000;
  const double e = ns_per_element([&] { exp_only(x.data(), y.data(), n); }, n, reps);
  const double a = ns_per_element([&] { accumulate(x.data(), m.data(), s.data(), t.data(), n); },
                                  n, reps);
  std::printf("exp_vec: %.3f ns/element (%.2f G/s); accumulate_lanes: %.3f ns/element (%.2f G/s)\n",
              e, 1 / e, a, 1 / a);
  return int(y[3] + s[3] > 1e30f);
}
