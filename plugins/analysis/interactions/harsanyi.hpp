// Fast Harsanyi (Moebius) transforms over the subsets of n input variables and the AND-OR decomposition of a set
// function with its sparsifying optimisation (Ren et al. 2023; Li & Zhang 2023; Chen et al. 2024), O(n 2^n) a pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace genscope::interactions {

// A subset S of the variables {0, ..., n-1} is a mask: bit i set means variable i is present (kept unmasked). A set
// function is 2^n values indexed by mask; v[0] is the output with every variable masked, v[2^n - 1] the sample.

/// In place, a[S] <- sum over T subset of S of (-1)^{|S|-|T|} a[T]: the Harsanyi dividends (Moebius inversion over
/// subsets). a.size() must be a power of two.
inline void moebius_subsets(std::span<double> a) {
  const std::size_t size = a.size();
  for (std::size_t bit = 1; bit < size; bit <<= 1)
    for (std::size_t block = 0; block < size; block += 2 * bit)
      for (std::size_t m = block + bit; m < block + 2 * bit; ++m) a[m] -= a[m - bit];
}

/// In place, a[S] <- sum over T subset of S of a[T]: the inverse of moebius_subsets (the zeta transform).
inline void zeta_subsets(std::span<double> a) {
  const std::size_t size = a.size();
  for (std::size_t bit = 1; bit < size; bit <<= 1)
    for (std::size_t block = 0; block < size; block += 2 * bit)
      for (std::size_t m = block + bit; m < block + 2 * bit; ++m) a[m] += a[m - bit];
}

/// In place, a[T] <- sum over S superset of T of (-1)^{|S|-|T|} a[S]: the transpose of moebius_subsets (carries a
/// gradient with respect to the dividends back to the set function).
inline void moebius_supersets(std::span<double> a) {
  const std::size_t size = a.size();
  for (std::size_t bit = 1; bit < size; bit <<= 1)
    for (std::size_t block = 0; block < size; block += 2 * bit)
      for (std::size_t m = block + bit; m < block + 2 * bit; ++m) a[m - bit] -= a[m];
}

/// Number of variables present in mask m (the interaction's order).
inline int order_of(std::uint64_t m) { return __builtin_popcountll(m); }

/// Settings of the sparsifying optimisation: learnable split gamma and noise q of the AND-OR decomposition, chosen
/// by Adam to minimise sum_{S != {}} |I_and(S)| + |I_or(S)| with |q_T| <= noise_bound for every T.
struct sparsify_settings {
  std::size_t iterations = 0;  ///< Adam steps; 0: no optimisation (gamma = q = 0, the plain half-half split)
  double learning_rate = 0;    ///< Adam's first step size, in the units of v
  double final_learning_rate = 0;  ///< the last step's size: the steps shrink geometrically from learning_rate
  double noise_bound = 0;      ///< tau: the largest |q_T|, in the units of v
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-12;  ///< Adam's moment decays and its guard
};

/// Settings for the set function v (2^n values) from rates relative to it, as the interactions plugin's options give
/// them: the learning rates times max_S |v(S) - v({})| / phi^n, the noise bound times |v(N) - v({})|. phi = 1.618...
/// (the golden ratio) is the largest singular value of the one-variable Moebius step [[1, 0], [-1, 1]], so phi^n is
/// that of the n-variable transform: a step of the split moves the interactions up to phi times more with each added
/// variable, and the steps shrink to match. No optimisation (iterations 0, everything 0) when v is not finite.
inline sparsify_settings relative_settings(std::span<const double> v, std::size_t iterations, double learning_rate,
                                           double final_learning_rate, double noise_bound) {
  const double scale = std::abs(v.back() - v.front());
  double spread = 0;
  for (const double x : v) spread = std::max(spread, std::abs(x - v.front()));
  sparsify_settings s;
  if (!std::isfinite(scale) || !std::isfinite(spread)) return s;
  const double golden = (1 + std::sqrt(5.0)) / 2;
  const double unit = spread * std::pow(golden, -std::log2(static_cast<double>(v.size())));
  s.iterations = iterations;
  s.learning_rate = learning_rate * unit;
  s.final_learning_rate = final_learning_rate * unit;
  s.noise_bound = noise_bound * scale;
  return s;
}

/// The AND-OR decomposition of one set function v (2^n values): with v'(T) = v(T) + q_T,
///   v_and(T) = v'(T)/2 + gamma_T,  v_or(T) = v'(T)/2 - gamma_T,
///   I_and(S) = sum_{T subset S} (-1)^{|S|-|T|} v_and(T),
///   I_or(S)  = -sum_{T subset S} (-1)^{|S|-|T|} v_or(N \ T),
/// so that for every S (universal matching), exactly up to rounding,
///   v'(S) = v'({}) + sum_{{} != T subset S} I_and(T) + sum_{T meets S} I_or(T).
/// and_effects[0] is v_and({}) and or_effects[0] is -v_or(N); neither enters the matching sums nor the objective.
struct and_or_split {
  std::vector<double> and_effects, or_effects;  ///< I_and(S), I_or(S) by mask
  std::vector<double> noise;                    ///< q_T by mask (all 0 without optimisation)
  double objective_before = 0;                  ///< the L1 objective of the plain half-half split (gamma = q = 0)
  double objective = 0;                         ///< the L1 objective of the split returned (the best iterate)
};

namespace detail {

// I_and and I_or of v' = v + q and the split gamma (the formulas of and_or_split), and their L1 objective.
inline double split_effects(std::span<const double> v, std::span<const double> gamma, std::span<const double> q,
                            std::vector<double>& and_effects, std::vector<double>& or_effects) {
  const std::size_t size = v.size(), full = size - 1;
  and_effects.resize(size);
  or_effects.resize(size);
  for (std::size_t t = 0; t < size; ++t) {
    const double half = 0.5 * (v[t] + q[t]);
    and_effects[t] = half + gamma[t];
    or_effects[full ^ t] = half - gamma[t];  // u(T) = v_or(N \ T)
  }
  moebius_subsets(and_effects);
  moebius_subsets(or_effects);
  double l1 = 0;
  for (std::size_t s = 1; s < size; ++s) {
    or_effects[s] = -or_effects[s];
    l1 += std::abs(and_effects[s]) + std::abs(or_effects[s]);
  }
  or_effects[0] = -or_effects[0];
  return l1;
}

}  // namespace detail

/// Decomposes v (2^n values, n >= 1) into AND and OR interactions, sparsified by `settings` (see and_or_split).
/// Deterministic: the same v and settings give the same bits. Throws std::invalid_argument when v.size() is not a
/// power of two of at least 2 or a setting is negative or not finite.
inline and_or_split decompose_and_or(std::span<const double> v, const sparsify_settings& settings) {
  const std::size_t size = v.size();
  if (size < 2 || (size & (size - 1)) != 0)
    throw std::invalid_argument("decompose_and_or: the set function must hold 2^n values, n >= 1");
  if (!(settings.learning_rate >= 0) || !(settings.noise_bound >= 0) || !std::isfinite(settings.learning_rate) ||
      !std::isfinite(settings.noise_bound))
    throw std::invalid_argument("decompose_and_or: learning_rate and noise_bound must be finite and >= 0");
  const std::size_t full = size - 1;
  std::vector<double> gamma(size, 0.0), q(size, 0.0);
  and_or_split best;
  best.noise = q;
  best.objective = best.objective_before = detail::split_effects(v, gamma, q, best.and_effects, best.or_effects);
  if (settings.iterations == 0 || !std::isfinite(best.objective)) return best;

  std::vector<double> and_effects, or_effects, grad_and(size), grad_or(size);
  std::vector<double> m_gamma(size, 0.0), s_gamma(size, 0.0), m_q(size, 0.0), s_q(size, 0.0);
  double decay1 = 1, decay2 = 1;
  auto sign = [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); };
  for (std::size_t step = 0; step < settings.iterations; ++step) {
    // Subgradient of the objective with respect to v_and and v_or (through the transposed transforms).
    const double l1 = detail::split_effects(v, gamma, q, and_effects, or_effects);
    if (l1 < best.objective) {
      best.objective = l1;
      best.and_effects = and_effects;
      best.or_effects = or_effects;
      best.noise = q;
    }
    grad_and[0] = grad_or[0] = 0;
    for (std::size_t s = 1; s < size; ++s) {
      grad_and[s] = sign(and_effects[s]);
      grad_or[s] = -sign(or_effects[s]);  // d|I_or|/d(u) before the outer minus
    }
    moebius_supersets(grad_and);  // dL/dv_and(T)
    moebius_supersets(grad_or);   // dL/du(T), u(T) = v_or(N \ T)
    decay1 *= settings.beta1;
    decay2 *= settings.beta2;
    const double progress = settings.iterations > 1 ? static_cast<double>(step) / static_cast<double>(settings.iterations - 1) : 0.0;
    const double rate = settings.final_learning_rate > 0 && settings.learning_rate > 0
                            ? settings.learning_rate * std::pow(settings.final_learning_rate / settings.learning_rate, progress)
                            : settings.learning_rate;
    const double step_size = rate * std::sqrt(1 - decay2) / (1 - decay1);
    for (std::size_t t = 0; t < size; ++t) {
      const double d_and = grad_and[t], d_or = grad_or[full ^ t];
      const double g_gamma = d_and - d_or, g_q = 0.5 * (d_and + d_or);
      m_gamma[t] = settings.beta1 * m_gamma[t] + (1 - settings.beta1) * g_gamma;
      s_gamma[t] = settings.beta2 * s_gamma[t] + (1 - settings.beta2) * g_gamma * g_gamma;
      gamma[t] -= step_size * m_gamma[t] / (std::sqrt(s_gamma[t]) + settings.epsilon);
      m_q[t] = settings.beta1 * m_q[t] + (1 - settings.beta1) * g_q;
      s_q[t] = settings.beta2 * s_q[t] + (1 - settings.beta2) * g_q * g_q;
      q[t] = std::clamp(q[t] - step_size * m_q[t] / (std::sqrt(s_q[t]) + settings.epsilon), -settings.noise_bound,
                        settings.noise_bound);
    }
  }
  const double l1 = detail::split_effects(v, gamma, q, and_effects, or_effects);
  if (l1 < best.objective) {
    best.objective = l1;
    best.and_effects = std::move(and_effects);
    best.or_effects = std::move(or_effects);
    best.noise = q;
  }
  return best;
}

/// v'(S) rebuilt from a decomposition for every S by the universal-matching sum of and_or_split, in O(n 2^n):
/// the AND part by a zeta transform over subsets, the OR part as the total minus the sum over T disjoint from S.
inline std::vector<double> reconstruct(const and_or_split& split, double v_empty) {
  const std::size_t size = split.and_effects.size(), full = size - 1;
  std::vector<double> and_part(split.and_effects.begin(), split.and_effects.end());
  and_part[0] = 0;
  zeta_subsets(and_part);  // sum over nonempty T subset of S
  std::vector<double> or_part(split.or_effects.begin(), split.or_effects.end());
  or_part[0] = 0;
  zeta_subsets(or_part);   // or_part[M] = sum over nonempty T subset of M
  std::vector<double> out(size);
  for (std::size_t s = 0; s < size; ++s) out[s] = v_empty + and_part[s] + (or_part[full] - or_part[full ^ s]);
  return out;
}

}  // namespace genscope::interactions
