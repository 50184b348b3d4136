# Reads a GenScope results file exactly as docs/results-format.md shows, and prints what it found as JSON.
import json
import sys

import h5py
import pandas as pd

path, run = sys.argv[1], sys.argv[2]
with h5py.File(path) as f:
    df = pd.DataFrame({k: (c.asstr()[:] if c.dtype.kind == "O" else c[:]) for k, c in f[f"runs/{run}"].items()
                       if k != "breakpoints"})
    attrs = {k: (v if isinstance(v, str) else str(v)) for k, v in f.attrs.items()}
print(json.dumps({
    "rows": len(df),
    "columns": sorted(df.columns),
    "kinds": sorted(df["kind"].unique().tolist()),
    "median_length": float(df["length"].median()),
    "interpolated": float((df["t_hi"] >= 1).mean()),
    "attrs": sorted(attrs),
    "status": attrs.get("status"),
}))
