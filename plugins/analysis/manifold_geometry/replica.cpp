// Replica mean-field geometry of one manifold: the cone projections on the dual (ALGLIB QuickQP) and the
// capacity, anchor radius and anchor dimension they give (docs/science.md, "Manifold geometry across layers").
#include "replica.hpp"

#include <libalglib/optimization.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace genscope::replica {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// A projection closer to t than this is t itself (the reference's eps): its anchor is the point of largest
// projection, as for a t inside the cone.
constexpr double interior_distance = 1e-8;

// QuickQP stops when the scaled constrained gradient of the dual is below this; the KKT residuals recorded per
// manifold show what it reached.
constexpr double gradient_tolerance = 1e-12;

// The measures of a manifold of finite points (measure()'s contract): ALGLIB errors propagate as ap_error.
void solve(const Eigen::MatrixXd& points, double kappa, Eigen::Index n_t, rng& random, geometry& out) {
  const Eigen::Index d = points.rows(), m = points.cols();
  Eigen::MatrixXd s(d + 1, m);  // the points with their centre coordinate
  s.topRows(d) = points;
  s.row(d).setOnes();

  // Dual of min ||v - t||^2 / 2 s.t. S^T v + kappa <= 0: v = t - S lambda, lambda >= 0 minimizing
  // lambda^T G lambda / 2 - lambda^T (S^T t + kappa), G = S^T S. Only the linear term changes with t.
  const Eigen::MatrixXd gram = s.transpose() * s;
  alglib::real_2d_array quadratic;
  quadratic.setcontent(m, m, gram.data());  // symmetric: column-major reads as row-major
  alglib::minqpstate qp;
  alglib::minqpcreate(m, qp);
  alglib::minqpsetquadraticterm(qp, quadratic, true);
  alglib::minqpsetbcall(qp, 0.0, alglib::fp_posinf);
  alglib::minqpsetscaleautodiag(qp);
  alglib::minqpsetalgoquickqp(qp, gradient_tolerance, 0.0, 0.0, 0, true);
  alglib::real_1d_array linear, start, lambda;
  linear.setlength(m);
  start.setlength(m);
  alglib::minqpreport report;

  Eigen::MatrixXd anchors(d + 1, n_t);
  Eigen::VectorXd t(d + 1), projections(m), w(d + 1), slack(m);
  double squared_distance = 0, alignment = 0;
  for (Eigen::Index k = 0; k < n_t; ++k) {
    for (Eigen::Index i = 0; i <= d; ++i) t[i] = random.normal();
    projections.noalias() = s.transpose() * t;
    Eigen::Index top = 0;
    projections.maxCoeff(&top);  // the first of equal maxima
    bool inside = projections[top] + kappa < 0;
    if (!inside) {
      for (Eigen::Index j = 0; j < m; ++j) linear[j] = -(projections[j] + kappa);
      alglib::minqpsetlinearterm(qp, linear);
      // Start from the solution with only the point of largest projection active, often the answer itself.
      for (Eigen::Index j = 0; j < m; ++j) start[j] = 0;
      start[top] = gram(top, top) > 0 ? (projections[top] + kappa) / gram(top, top) : 0;
      alglib::minqpsetstartingpoint(qp, start);
      alglib::minqpoptimize(qp);
      alglib::minqpresults(qp, lambda, report);
      if (report.terminationtype <= 0) {
        ++out.failed;
        continue;
      }
      const Eigen::Map<const Eigen::VectorXd> multipliers(lambda.getcontent(), m);
      w.noalias() = s * multipliers;  // t - v
      slack.noalias() = s.transpose() * (t - w);
      slack.array() += kappa;  // s . v + kappa, <= 0 when feasible
      const double feasibility = std::max(0.0, slack.maxCoeff());
      const double complementarity = (multipliers.array() * slack.array().abs()).maxCoeff();
      out.kkt_violation = std::max({out.kkt_violation, feasibility, complementarity});
      inside = w.norm() < interior_distance;
    }
    if (inside) {
      anchors.col(k) = s.col(top);
    } else {
      ++out.anchored;
      squared_distance += w.squaredNorm();
      anchors.col(k) = w / w[d];  // w = S lambda: its last coordinate is sum(lambda) > 0
    }
    const double tn = t.head(d).norm(), an = anchors.col(k).head(d).norm();
    if (tn > 0 && an > 0) alignment += t.head(d).dot(anchors.col(k).head(d)) / (tn * an);
  }
  if (out.failed > 0) {
    out.capacity = out.radius = out.dimension = nan;
    return;
  }
  const double count = static_cast<double>(n_t);
  out.capacity = squared_distance > 0 ? count / squared_distance : std::numeric_limits<double>::infinity();
  const Eigen::VectorXd mean = anchors.topRows(d).rowwise().mean();
  out.radius = std::sqrt((anchors.topRows(d).colwise() - mean).colwise().squaredNorm().mean());
  const double mean_alignment = alignment / count;
  out.dimension = static_cast<double>(d) * mean_alignment * mean_alignment;
}

}  // namespace

geometry measure(const Eigen::MatrixXd& points, double kappa, std::size_t vectors, rng& random) {
  if (points.cols() == 0 || points.rows() == 0) throw std::invalid_argument("replica::measure: a manifold of no points or no coordinates");
  if (vectors == 0) throw std::invalid_argument("replica::measure: no sampled vectors (n_t = 0)");
  const auto n_t = static_cast<Eigen::Index>(vectors);
  geometry out;
  if (!points.allFinite()) {  // a manifold that cannot be measured (a centre of norm 0): NaN, not an error
    out.capacity = out.radius = out.dimension = out.kkt_violation = nan;
    return out;
  }
  try {
    solve(points, kappa, n_t, random, out);
  } catch (const alglib::ap_error& e) {  // not a std::exception
    throw std::runtime_error("ALGLIB minqp: " + e.msg);
  }
  return out;
}

}  // namespace genscope::replica
