#!/usr/bin/python3
"""Density of linear regions on plane_regions planes: inside the triangle of the three samples and elsewhere.

  scripts/plane_density.py RESULTS.h5

For every plane_regions analysis of RESULTS.h5 and every row (plane and checkpoint), prints the linear and decision
regions, then the regions per unit area of the plane (input units squared) whose centre (vertex mean) lies inside
the triangle of the row's three samples, and those of the rest of the box (docs/paper-reproduction.md, "The plane
through three images"). Rows without three samples in the plane (plane = "directions", or no plane) are skipped.
"""
import sys

import h5py
import numpy as np


def inside_triangle(points, a, b, c):
    def side(p, q):
        return (q[0] - p[0]) * (points[:, 1] - p[1]) - (q[1] - p[1]) * (points[:, 0] - p[0])
    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    return ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))


def main(path):
    with h5py.File(path, "r") as f:
        if "analyses" not in f:
            sys.exit(f"{path}: no analyses")
        print("analysis epoch regions decision_regions density_triangle density_elsewhere")
        for name, group in f["analyses"].items():
            if group.attrs.get("analysis_plugin") != "plane_regions":
                continue
            t = group["planes"]
            for r in range(len(t["regions"])):
                samples = t["samples"][r].reshape(3, 2)
                if not np.isfinite(samples).all():
                    continue
                s, n = t["region_sizes_start"][r], t["region_sizes_count"][r]
                v0, nv = t["region_vertices_start"][r], t["region_vertices_count"][r]
                polygons = np.split(t["region_vertices"][v0:v0 + nv].reshape(-1, 2),
                                    np.cumsum(t["region_sizes"][s:s + n])[:-1])
                centres = np.array([p.mean(0) for p in polygons])
                a, b, c = samples
                triangle = abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2
                s_lo, s_hi, t_lo, t_hi = t["box"][r]
                box = (s_hi - s_lo) * (t_hi - t_lo)
                k = int(inside_triangle(centres, a, b, c).sum())
                print(f"{name} {t['epoch'][r]} {len(polygons)} {t['decision_regions'][r]} "
                      f"{k / triangle:.4g} {(len(polygons) - k) / (box - triangle):.4g}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
