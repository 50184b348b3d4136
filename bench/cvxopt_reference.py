#!/usr/bin/python3
"""The published manifold analysis's solver as bench_manifold's reference: cvxopt's qp on the primal cone projection.

Usage: cvxopt_reference.py M N SOLVES SEED KAPPA

Builds one Gaussian manifold as the reference workload has them (M points in N dimensions, centred, divided by the
centre's norm, reduced to M coordinates by a QR, the centre coordinate 1 appended), then times cvxopt's
solvers.qp on min ||v - t||^2 / 2 s.t. S^T v + kappa <= 0 for SOLVES vectors t outside the cone, with the
tolerances of the published code (1e-12). Prints key-value lines: version, solves, seconds, ms_per_solve.
"""
import sys
import time

import numpy as np


def main():
    m, n, solves, seed, kappa = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    try:
        import cvxopt
        from cvxopt import matrix, solvers
    except ImportError:
        print("cvxopt_reference.py: Debian's python3-cvxopt is not installed", file=sys.stderr)
        return 2
    solvers.options.update(show_progress=False, abstol=1e-12, reltol=1e-12, feastol=1e-12)
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n, m))
    centre = points.mean(axis=1, keepdims=True)
    s = (points - centre) / np.linalg.norm(centre)
    r = np.linalg.qr(s, mode="r")
    s1 = np.vstack([r, np.ones((1, m))])
    d1 = s1.shape[0]
    p, g, h = matrix(np.eye(d1)), matrix(s1.T.copy()), matrix(-kappa * np.ones(m))
    ts = []
    while len(ts) < solves:
        t = rng.standard_normal(d1)
        if (s1.T @ t).max() + kappa >= 0:  # inside the cone needs no QP
            ts.append(t)
    start = time.perf_counter()
    for t in ts:
        solvers.qp(p, matrix(-t), g, h)
    seconds = time.perf_counter() - start
    print(f"version {cvxopt.__version__}")
    print(f"solves {solves}")
    print(f"seconds {seconds:.6f}")
    print(f"ms_per_solve {1e3 * seconds / solves:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
