#!/usr/bin/python3
"""PyTorch as the benches' reference: the same networks and probes, bisection and inference as a researcher writes them.

  torch_reference.py build-resnet OUTDIR IMAGES.h5
      A ResNet-8 for 3x32x32 inputs (a 3x3 stem, three residual blocks of two 3x3 convolutions with batch norm at
      16, 32 and 64 channels, identity and strided 1x1 shortcuts, global average pooling, one dense layer): seeded
      He initialization, batch norm statistics calibrated on the images of IMAGES.h5 (X, N x 3 x 32 x 32), so its
      activations are normalized as after training. Writes OUTDIR/resnet8.pt (state_dict) and OUTDIR/resnet8.onnx.
  torch_reference.py measure KIND WEIGHTS PROBES.h5 OUT.h5 --T T --h H --tol TOL [--threads K] [--batch B]
      KIND: mlp (WEIGHTS: a GenScope MLP model file, docs/model-format.md), lenet (experiments/cnn/train_cnn.py's
      network, WEIGHTS its state_dict) or resnet8 (WEIGHTS from build-resnet). PROBES.h5 holds x and d (P x n).
      Bisection with oneDNN (torch.utils.mkldnn) on every probe, batched over probes and both sides: the class at
      t = h, 2h, ... up to T, 16 scan points per side and forward call, then bisection of the first bracket whose
      class differs until it is narrower than TOL, all sides of all probes in each forward call (GenScope's
      bisection estimator, plugins/estimator/bisection/README.md). Then float32 inference of B inputs (the probes'
      x, repeated) with PyTorch's default CPU path and with oneDNN. OUT.h5: t_lo, t_hi (the agreeing ends; +-T
      where no change), bisection_seconds, forward_calls, rows_evaluated, and infer_dense_seconds /
      infer_mkldnn_seconds (best of 5, per batch of B), threads, torch_version.
  torch_reference.py plane-grid WEIGHTS PLANE.h5 OUT.h5 --grid G [--threads K]
      How pictures of linear regions are usually made: the MLP of WEIGHTS (a GenScope MLP model file) evaluated in
      float32 on a G x G grid over a plane's box (PLANE.h5: origin, axis_s, axis_t, box = s_lo, s_hi, t_lo, t_hi),
      batched, each point's ReLU pattern packed into bits, and the distinct patterns counted. OUT.h5: attributes
      seconds, patterns (distinct patterns found), points, threads, torch_version.
"""
import argparse
import copy
import importlib.util
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils import mkldnn

HERE = os.path.dirname(os.path.abspath(__file__))


def lenet_class():
    """The CNN study's network (experiments/cnn/train_cnn.py), one definition for both."""
    path = os.path.join(HERE, "..", "experiments", "cnn", "train_cnn.py")
    spec = importlib.util.spec_from_file_location("train_cnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lenet


class mlp(nn.Module):
    def __init__(self, path):
        super().__init__()
        with h5py.File(path, "r") as f:
            count = len(f["layers"])
            layers = []
            for l in range(count):
                w = torch.from_numpy(f[f"layers/{l}/weight"][...])
                b = torch.from_numpy(f[f"layers/{l}/bias"][...])
                layer = nn.Linear(w.shape[1], w.shape[0])
                layer.weight.data.copy_(w)
                layer.bias.data.copy_(b)
                layers.append(layer)
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class resnet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.blocks = nn.Sequential(block(16, 16, 1), block(16, 32, 2), block(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.stem(x))))
        x = F.adaptive_avg_pool2d(x, 1)
        if x.is_mkldnn:
            x = x.to_dense()  # oneDNN tensors do not flatten
        return self.fc(torch.flatten(x, 1))


def build_resnet(out, images):
    torch.manual_seed(1)
    net = resnet8()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average: the statistics of all calibration images
    with h5py.File(images, "r") as f:
        x = torch.from_numpy(f["X"][...].astype(np.float32))
    net.train()
    with torch.no_grad():
        for i in range(0, len(x), 256):
            net(x[i:i + 256])
    net.eval()
    os.makedirs(out, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(out, "resnet8.pt"))
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), os.path.join(out, "resnet8.onnx"), opset_version=13,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})


def load(kind, weights):
    if kind == "mlp":
        return mlp(weights).eval(), None
    net = lenet_class()() if kind == "lenet" else resnet8()
    net.load_state_dict(torch.load(weights))
    return net.eval(), (1, 28, 28) if kind == "lenet" else (3, 32, 32)


def bisection(net, shape, x, d, T, h, tol, chunk=16, max_rows=16384):
    """GenScope's bisection, batched: returns t_lo, t_hi, forward calls and rows evaluated."""
    def classes(points):  # points: rows x n, float32
        nonlocal calls, rows
        calls += 1
        rows += len(points)
        inp = points if shape is None else points.view((-1,) + shape)
        return net(inp.to_mkldnn()).to_dense().argmax(1)

    calls = rows = 0
    P, n = x.shape
    c0 = torch.cat([classes(x[i:i + max_rows]) for i in range(0, P, max_rows)])
    # Sides: 2P rows, side s = 0 walks +d, s = 1 walks -d.
    base = torch.cat([x, x])
    direction = torch.cat([d, -d])
    cls = torch.cat([c0, c0])
    steps = int(np.ceil(T / h - 1e-9))
    grid = torch.tensor([min(k * h, T) for k in range(1, steps + 1)], dtype=torch.float64)
    lo = torch.zeros(2 * P, dtype=torch.float64)    # last agreeing t
    hi = torch.full((2 * P,), np.inf, dtype=torch.float64)  # first differing t (inf: none yet)
    scanning = torch.ones(2 * P, dtype=torch.bool)
    for first in range(0, steps, chunk):
        active = torch.nonzero(scanning).flatten()
        if len(active) == 0:
            break
        ts = grid[first:first + chunk]
        per_call = max(1, max_rows // len(ts))
        for a0 in range(0, len(active), per_call):
            sides = active[a0:a0 + per_call]
            pts = (base[sides, None, :].double() + ts[None, :, None] * direction[sides, None, :].double()).float()
            got = classes(pts.reshape(-1, n)).view(len(sides), len(ts))
            differs = got != cls[sides, None]
            any_diff = differs.any(1)
            first_diff = torch.where(any_diff, differs.float().argmax(1), torch.full_like(any_diff, len(ts), dtype=torch.long))
            last_agree = torch.where(first_diff > 0, ts[(first_diff - 1).clamp(min=0)], lo[sides])
            lo[sides] = torch.where(any_diff, last_agree, ts[-1])
            hi[sides] = torch.where(any_diff, ts[first_diff.clamp(max=len(ts) - 1)], hi[sides])
            scanning[sides] = ~any_diff & (ts[-1] < T)
    bracket = torch.nonzero(torch.isfinite(hi)).flatten()
    while len(bracket) > 0:
        bracket = bracket[(hi[bracket] - lo[bracket]) >= tol]
        if len(bracket) == 0:
            break
        for b0 in range(0, len(bracket), max_rows):
            sides = bracket[b0:b0 + max_rows]
            mid = (lo[sides] + hi[sides]) / 2
            pts = (base[sides].double() + mid[:, None] * direction[sides].double()).float()
            same = classes(pts) == cls[sides]
            lo[sides] = torch.where(same, mid, lo[sides])
            hi[sides] = torch.where(same, hi[sides], mid)
    return (-lo[P:]).numpy(), lo[:P].numpy(), calls, rows


def best_of(fn, runs=5):
    fn()
    best = np.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(args):
    torch.set_num_threads(args.threads)
    net, shape = load(args.kind, args.weights)
    with h5py.File(args.probes, "r") as f:
        x = torch.from_numpy(f["x"][...].astype(np.float32))
        d = torch.from_numpy(f["d"][...].astype(np.float32))
    fast = mkldnn.to_mkldnn(copy.deepcopy(net))
    with torch.no_grad():
        start = time.perf_counter()
        t_lo, t_hi, calls, rows = bisection(fast, shape, x, d, args.T, args.h, args.tol)
        seconds = time.perf_counter() - start
        batch = x[torch.arange(args.batch) % len(x)]
        if shape is not None:
            batch = batch.view((-1,) + shape)
        dense_s = best_of(lambda: net(batch))
        mkldnn_s = best_of(lambda: fast(batch.to_mkldnn()).to_dense())
    with h5py.File(args.out, "w") as f:
        f["t_lo"] = t_lo
        f["t_hi"] = t_hi
        f.attrs["bisection_seconds"] = seconds
        f.attrs["forward_calls"] = calls
        f.attrs["rows_evaluated"] = rows
        f.attrs["infer_batch"] = args.batch
        f.attrs["infer_dense_seconds"] = dense_s
        f.attrs["infer_mkldnn_seconds"] = mkldnn_s
        f.attrs["threads"] = torch.get_num_threads()
        f.attrs["torch_version"] = str(torch.__version__)


def plane_grid(args):
    torch.set_num_threads(args.threads)
    net, _ = load("mlp", args.weights)
    with h5py.File(args.plane, "r") as f:
        origin, axis_s, axis_t = (torch.from_numpy(f[k][...].astype(np.float32)) for k in ("origin", "axis_s", "axis_t"))
        s_lo, s_hi, t_lo, t_hi = f["box"][...]
    s = torch.linspace(s_lo, s_hi, args.grid)
    t = torch.linspace(t_lo, t_hi, args.grid)
    seen = set()
    rows = max(1, 65536 // args.grid)  # grid rows per batch
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, args.grid, rows):
            ss, tt = torch.meshgrid(s[first:first + rows], t, indexing="ij")
            h = origin[None, :] + ss.reshape(-1, 1) * axis_s[None, :] + tt.reshape(-1, 1) * axis_t[None, :]
            bits = []
            for layer in net.layers[:-1]:
                h = layer(h)
                bits.append(h > 0)
                h = F.relu(h)
            packed = np.packbits(torch.cat(bits, 1).numpy(), axis=1)
            unique = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))))
            seen.update(u.tobytes() for u in unique)
    seconds = time.perf_counter() - start
    with h5py.File(args.out, "w") as f:
        f.attrs["seconds"] = seconds
        f.attrs["patterns"] = len(seen)
        f.attrs["points"] = args.grid * args.grid
        f.attrs["threads"] = torch.get_num_threads()
        f.attrs["torch_version"] = str(torch.__version__)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build-resnet")
    b.add_argument("out")
    b.add_argument("images")
    m = sub.add_parser("measure")
    m.add_argument("kind", choices=["mlp", "lenet", "resnet8"])
    m.add_argument("weights")
    m.add_argument("probes")
    m.add_argument("out")
    m.add_argument("--T", type=float, required=True)
    m.add_argument("--h", type=float, required=True)
    m.add_argument("--tol", type=float, required=True)
    m.add_argument("--threads", type=int, default=2)
    m.add_argument("--batch", type=int, default=1024)
    g = sub.add_parser("plane-grid")
    g.add_argument("weights")
    g.add_argument("plane")
    g.add_argument("out")
    g.add_argument("--grid", type=int, required=True)
    g.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.command == "build-resnet":
        build_resnet(args.out, args.images)
    elif args.command == "plane-grid":
        plane_grid(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
