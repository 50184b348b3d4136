// Replica mean-field geometry of one manifold (Chung, Lee, Sompolinsky 2018): capacity, anchor radius and anchor
// dimension from sampled Gaussian vectors, each needing the projection of the vector onto a polyhedral cone.
#pragma once

#include <genscope/random.hpp>

// GCC 12 flags _mm512_undefined_pd() inside Eigen's AVX-512 packet code as maybe-uninitialized; the value is a
// don't-care operand, never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <cstddef>

namespace genscope::replica {

/// What measure() finds for one manifold.
struct geometry {
  double capacity = 0;   ///< alpha_M = 1 / <||v - t||^2>_t (infinite when every t lies inside the cone)
  double radius = 0;     ///< R_M: root mean square distance of the anchor points from their mean
  double dimension = 0;  ///< D_M = D <t_hat . s_hat>_t^2 over the first D coordinates
  std::size_t anchored = 0;  ///< vectors whose projection needed the QP (the rest lie inside the cone)
  std::size_t failed = 0;    ///< QPs the solver did not finish (then every measure above is NaN)
  double kkt_violation = 0;  ///< largest KKT residual over the QPs: max(feasibility, complementarity)
};

/// Measures one manifold of M points. `points` is D x M: each column a point minus the manifold's centre, in
/// units of the centre's norm, written in any orthonormal basis of D coordinates (D <= M after a QR). The
/// analysis appends the centre coordinate 1 to every point (D + 1 coordinates) and, for each of `vectors`
/// vectors t ~ N(0, I_{D+1}) drawn from `random`, finds v, the point nearest to t with s . v + kappa <= 0 for
/// every point s (a QP of M multipliers, solved on its dual with ALGLIB's QuickQP), and the anchor point
/// s~ = (t - v) / (t - v)_{D+1}, a convex combination of the points. t with max_s s . t + kappa < 0 needs no
/// QP: v = t and its anchor is the point of largest projection. Points that are not all finite (a centre of
/// norm 0) give NaN measures. Throws std::invalid_argument on an empty manifold or vectors = 0, and
/// std::runtime_error with ALGLIB's message when the solver refuses its input.
geometry measure(const Eigen::MatrixXd& points, double kappa, std::size_t vectors, rng& random);

}  // namespace genscope::replica
