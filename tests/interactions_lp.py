#!/usr/bin/python3
"""An independent oracle of the `interactions` analysis: dense matrices for its transforms, and the sparsifying
optimisation solved exactly as a linear program (cvxopt's GLPK simplex).

  interactions_lp.py RESULTS.h5 [ANALYSIS ...]
      For every row of the named `interactions` analyses in RESULTS.h5 (default: all of them), written with
      store_all = true (n <= 6 variables): the stored split is feasible (v_and + v_or = outputs + noise for every
      mask, universal matching, |noise| <= noise_bound), its L1 is the `objective` column and the half-half split's
      the `objective_before` column; the LP optimum of the same v and tau is bracketed by the value of the
      simplex's vertex (above) and a dual certificate made exactly feasible (below); and the plugin's objective lies
      in [lower - 1e-9, upper * 1.01 + 1e-6]. Prints the gaps per analysis; exits 1 on a failure or when no row was
      checked.

The LP. With v' = v + q and a = v_and (a free function: the split gamma = a - v'/2 is free),
    I_and = M a,   I_or = -M P (v' - a),
where M is the Moebius matrix over subsets and (P w)(T) = w(N \\ T). Minimise sum_{S != {}} |I_and(S)| + |I_or(S)|
over a and |q_T| <= tau: 2^(n+1) variables and two slacks per nonempty S.

A lower bound (weak duality): for any y_and, y_or in [-1, 1]^(2^n - 1) with M'^T y_and = J^T y_or (M' = M without
its row {}, J = -(M P) without its row {}), the objective is at least y_or . J v - tau ||J^T y_or||_1. y_and is
fixed by y_or (M is invertible, and the {} entry of M^-T J^T y_or is always 0 since J 1 = 0), so the solver's y_or,
clipped and scaled, is an exactly feasible certificate.
"""
import sys

import h5py
import numpy as np

# The plugin's objective must reach the LP optimum within this factor and offset.
RELATIVE, ABSOLUTE, BELOW = 0.01, 1e-6, 1e-9


def popcount(m):
    return bin(m).count("1")


def moebius_matrix(n):
    """M[S, T] = (-1)^(|S| - |T|) for T a subset of S, else 0: (M v)(S) is the Harsanyi dividend of v at S."""
    size = 1 << n
    m = np.zeros((size, size))
    for s in range(size):
        for t in range(size):
            if t & ~s == 0:
                m[s, t] = -1.0 if (popcount(s) - popcount(t)) % 2 else 1.0
    return m


def zeta_matrix(n):
    """Z[S, T] = 1 for T a subset of S: the inverse of the Moebius matrix."""
    size = 1 << n
    return np.array([[1.0 if t & ~s == 0 else 0.0 for t in range(size)] for s in range(size)])


def complement_matrix(n):
    """(P w)(T) = w(N \\ T)."""
    size = 1 << n
    return np.eye(size)[::-1].copy()  # mask N \ T = (2^n - 1) - T


def variables(size):
    n = size.bit_length() - 1
    if size < 2 or 1 << n != size:
        raise ValueError(f"a set function of {size} values: not 2^n, n >= 1")
    return n


def split_check(v, and_effects, or_effects, noise):
    """The stored split against the definitions, with dense matrices: the largest |v_and + v_or - v'| (v_and = Z
    I_and, v_or = P u with u = -Z I_or), the largest universal-matching error |v'(S) - v'({}) - sum_{{} != T subset
    S} I_and(T) - sum_{T meets S} I_or(T)|, and the L1 objective of the effects."""
    n = variables(len(v))
    size = 1 << n
    z, p = zeta_matrix(n), complement_matrix(n)
    noisy = np.asarray(v) + np.asarray(noise)
    v_and = z @ and_effects
    v_or = p @ (-(z @ or_effects))
    split_error = float(np.abs(v_and + v_or - noisy).max())
    within = np.array([[1.0 if t != 0 and t & ~s == 0 else 0.0 for t in range(size)] for s in range(size)])
    meets = np.array([[1.0 if t & s else 0.0 for t in range(size)] for s in range(size)])
    rebuilt = noisy[0] + within @ and_effects + meets @ or_effects
    matching_error = float(np.abs(rebuilt - noisy).max())
    objective = float(np.abs(and_effects[1:]).sum() + np.abs(or_effects[1:]).sum())
    return split_error, matching_error, objective


def plain_objective(v):
    """The L1 objective of the half-half split (gamma = q = 0)."""
    n = variables(len(v))
    m, p = moebius_matrix(n), complement_matrix(n)
    half = 0.5 * np.asarray(v)
    return float(np.abs((m @ half)[1:]).sum() + np.abs((m @ p @ half)[1:]).sum())


def lp_bounds(v, tau):
    """(upper, lower): the value of the simplex's optimal vertex of the sparsifying LP for set function v and noise
    bound tau (recomputed from its a and q), and a certified lower bound from its dual made exactly feasible. The LP is solved for v / scale (scale: the largest
    |v|), then scaled back."""
    from cvxopt import matrix, solvers

    v = np.asarray(v, dtype=np.float64)
    n = variables(len(v))
    size = 1 << n
    scale = max(float(np.abs(v).max()), 1e-300)
    w, bound = v / scale, tau / scale
    m, p = moebius_matrix(n), complement_matrix(n)
    k = m[1:]              # I_and without {} = k a
    j = -(m @ p)[1:]       # I_or without {} = j (v + q - a)
    e = size - 1
    with_noise = bound > 0
    nq = size if with_noise else 0
    # x = [a without a({}) (e), q (nq), t_and (e), t_or (e)]: a + c changes no I(S), S != {} (M 1 = M P 1 is 1 at
    # {} only), so a({}) = 0 (its column dropped).
    k, j_a = k[:, 1:], j[:, 1:]
    eye = np.eye(e)
    rows, rhs = [], []
    zero_q = np.zeros((e, nq))
    rows.append(np.hstack([k, zero_q, -eye, np.zeros((e, e))]))
    rhs.append(np.zeros(e))
    rows.append(np.hstack([-k, zero_q, -eye, np.zeros((e, e))]))
    rhs.append(np.zeros(e))
    jq = j if with_noise else zero_q
    rows.append(np.hstack([-j_a, jq, np.zeros((e, e)), -eye]))
    rhs.append(-(j @ w))
    rows.append(np.hstack([j_a, -jq, np.zeros((e, e)), -eye]))
    rhs.append(j @ w)
    if with_noise:
        rows.append(np.hstack([np.zeros((size, e)), np.eye(size), np.zeros((size, 2 * e))]))
        rhs.append(np.full(size, bound))
        rows.append(np.hstack([np.zeros((size, e)), -np.eye(size), np.zeros((size, 2 * e))]))
        rhs.append(np.full(size, bound))
    g, h = np.vstack(rows), np.concatenate(rhs)
    c = np.concatenate([np.zeros(e + nq), np.ones(2 * e)])
    solvers.options["glpk"] = {"msg_lev": "GLP_MSG_OFF"}
    sol = solvers.lp(matrix(c), matrix(g), matrix(h), solver="glpk")  # the simplex method: a vertex, exactly
    if sol["status"] != "optimal":
        raise RuntimeError(f"cvxopt (GLPK): {sol['status']}")
    x, z = np.array(sol["x"]).ravel(), np.array(sol["z"]).ravel()
    # The primal value of a feasible point: the effects of x's a and q (q clipped into the box), recomputed.
    a = np.concatenate([[0.0], x[:e]])
    q = np.clip(x[e:e + nq], -bound, bound) if with_noise else np.zeros(size)
    upper = float(np.abs(m[1:] @ a).sum() + np.abs(j @ (w + q - a)).sum())
    # The dual certificate: y_or = z3 - z4 clipped into [-1, 1], y_and from it, both scaled into the unit box.
    y_or = np.clip(z[2 * e:3 * e] - z[3 * e:4 * e], -1, 1)
    back = zeta_matrix(n).T @ (j.T @ y_or)  # M^-T J^T y_or = [0, y_and]
    alpha = 1 / max(1.0, float(np.abs(back[1:]).max()))
    lower = alpha * (float(y_or @ (j @ w)) - bound * float(np.abs(j.T @ y_or).sum()))
    return upper * scale, lower * scale


def ragged(table, column, r):
    start, count = table[column + "_start"][r], table[column + "_count"][r]
    return table[column][start:start + count]


def interactions_tables(f):
    """{name: table group} of the interactions analyses in an open results file whose rows store every output."""
    found = {}
    for name, g in f.get("analyses", {}).items():
        plugin = g.attrs.get("analysis_plugin")
        plugin = plugin.decode() if isinstance(plugin, bytes) else plugin
        if plugin == "interactions" and "samples" in g and "outputs" in g["samples"]:
            found[name] = g["samples"]
    return found


def check_results(path, names):
    problems, checked = [], 0
    with h5py.File(path, "r") as f:
        tables = interactions_tables(f)
        for name in names:
            if name not in tables:
                problems.append(f"{name}: no interactions analysis written with store_all in {path}")
        for name, t in tables.items():
            if names and name not in names:
                continue
            gaps, widths, worst_split = [], [], 0.0
            for r in range(len(t["objective"])):
                v = ragged(t, "outputs", r)
                if len(v) > 64:
                    problems.append(f"{name} row {r}: {len(v)} masks, the LP oracle takes n <= 6")
                    continue
                and_e, or_e, noise = ragged(t, "and_effects", r), ragged(t, "or_effects", r), ragged(t, "noise", r)
                tau, objective = float(t["noise_bound"][r]), float(t["objective"][r])
                where = f"{name} row {r}"
                split_error, matching_error, l1 = split_check(v, and_e, or_e, noise)
                tol = 1e-9 * max(1.0, float(np.abs(v).max()))
                worst_split = max(worst_split, split_error, matching_error)
                if split_error > tol or matching_error > tol:
                    problems.append(f"{where}: the stored split misses v + q by {split_error:.2e}, matching by "
                                    f"{matching_error:.2e}")
                if np.abs(noise).max() > tau:
                    problems.append(f"{where}: |q| reaches {np.abs(noise).max():.6g} > noise_bound {tau:.6g}")
                if abs(l1 - objective) > tol:
                    problems.append(f"{where}: the effects' L1 is {l1:.12g}, the objective column {objective:.12g}")
                before = plain_objective(v)
                if abs(before - float(t["objective_before"][r])) > tol:
                    problems.append(f"{where}: objective_before {t['objective_before'][r]:.12g}, the half-half "
                                    f"split's L1 {before:.12g}")
                upper, lower = lp_bounds(v, tau)
                widths.append((upper - lower) / max(1.0, upper))
                slack = 1e-9 * max(1.0, before)
                if lower > upper + slack or upper > before + slack or upper - lower > slack:
                    problems.append(f"{where}: the LP oracle's bracket [{lower:.12g}, {upper:.12g}] (plain split "
                                    f"{before:.12g})")
                gap = objective / upper - 1 if upper > 0 else (0.0 if objective == 0 else np.inf)
                gaps.append(gap)
                if objective < lower - BELOW:
                    problems.append(f"{where}: objective {objective:.12g} below the LP's lower bound {lower:.12g}")
                if objective > upper * (1 + RELATIVE) + ABSOLUTE:
                    problems.append(f"{where}: objective {objective:.9g} is {100 * gap:.3f}% above the LP optimum "
                                    f"{upper:.9g} (tau {tau:.4g}, plain split {before:.6g})")
                checked += 1
            if gaps:
                gaps = np.array(gaps)
                print(f"{name}: {len(gaps)} rows; objective above the LP optimum by median "
                      f"{100 * np.median(gaps):.4f}%, max {100 * gaps.max():.4f}%; LP bracket relative width max "
                      f"{max(widths):.2e}; split and matching error max {worst_split:.2e}")
    for p in problems[:20]:
        print("  " + p)
    if len(problems) > 20:
        print(f"  ... {len(problems) - 20} more")
    print(f"{checked} rows checked, {len(problems)} problems")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(check_results(sys.argv[1], sys.argv[2:]))
