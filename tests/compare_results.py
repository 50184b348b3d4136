#!/usr/bin/python3
"""Compares two GenScope results files with h5py (an independent reader): every group, dataset and
attribute must be equal, bit for bit, except the attributes that record time, host, resumption and merging.
Prints each difference and exits 1 if there is any; exits 0 when the files are equal."""
import sys

import h5py
import numpy as np

# Attributes that legitimately differ between an interrupted-and-resumed run and an uninterrupted one.
IGNORED = {"start_time", "end_time", "seconds", "host", "threads", "resumed_at", "sampler_prepare_seconds",
           "sampler_seconds", "estimator_seconds", "prepare_seconds", "compute_seconds",
           # which shard files (or MPI ranks) a merged file came from, and when it was merged
           "merged_from", "merged_at"}


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
    return np.array_equal(a, b)


def compare(a, b, path, out):
    for name in sorted(set(a.attrs) | set(b.attrs)):
        if name in IGNORED:
            continue
        if name not in a.attrs or name not in b.attrs:
            out.append(f"{path}: attribute {name} only in {'second' if name in b.attrs else 'first'}")
        elif not same(a.attrs[name], b.attrs[name]):
            out.append(f"{path}: attribute {name}: {a.attrs[name]!r} != {b.attrs[name]!r}")
    if isinstance(a, h5py.Dataset) or isinstance(b, h5py.Dataset):
        if not (isinstance(a, h5py.Dataset) and isinstance(b, h5py.Dataset)):
            out.append(f"{path}: dataset in one file only")
        elif a.dtype.kind == "O" or h5py.check_string_dtype(a.dtype):
            if list(a.asstr()[()].ravel()) != list(b.asstr()[()].ravel()) or a.shape != b.shape:
                out.append(f"{path}: strings differ")
        elif not same(a[()], b[()]):
            out.append(f"{path}: values differ ({a.shape} vs {b.shape})")
        return
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            out.append(f"{path}/{name}: only in {'second' if name in b else 'first'}")
        else:
            compare(a[name], b[name], f"{path}/{name}", out)


def main():
    with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
        differences = []
        compare(a, b, "", differences)
    for d in differences[:20]:
        print(d)
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
