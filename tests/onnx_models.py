#!/usr/bin/python3
"""PyTorch as a real client of GenScope's ONNX import, and as its float64 oracle.

  onnx_models.py build OUTDIR
      Builds the test networks (seeded), exports each with torch.onnx.export to OUTDIR/<name>.onnx, and writes
      OUTDIR/<name>.h5 with 1,000 inputs X (float32) and PyTorch's float32 logits, plus a data set of 200
      samples (X, y = the network's own class) for experiments. Also writes the networks GenScope must refuse.
  onnx_models.py check-exact OUTDIR NAME DATA.h5 RESULTS.h5
      Checks every probe of every run in RESULTS.h5 (pairwise and midline probes over DATA.h5, exact estimator with
      record_breakpoints) against the network evaluated by PyTorch in float64: the class is constant on a dense
      grid of [t_lo, t_hi], the class just past each unclipped end is class_lo / class_hi, every recorded
      breakpoint separates two different switch patterns, and no pattern change hides between two breakpoints.
  onnx_models.py check-jacobian OUTDIR NAME DATA.h5 RESULTS.h5
      Checks the jacobian analysis's ||df/dx||_F per point against torch.autograd in float64.
  onnx_models.py check-manifold OUTDIR NAME DATA.h5 RESULTS.h5
      Checks the manifold_geometry analysis: every layer of the network measured, finite positive geometry, small
      KKT residuals, and the centre norms of the input and logits layers against the manifolds' members evaluated
      by PyTorch in float64.
  onnx_models.py check-planes OUTDIR NAME DATA.h5 RESULTS.h5
      Checks the plane_regions analysis against PyTorch in float64: the polygons tile the box, three points inside each
      region share one switch pattern and the region's logits, different regions have different patterns, every
      point of a grid over the box has the pattern of some region, and each decision piece's class is the argmax
      inside it.
  onnx_models.py check-interactions OUTDIR NAME DATA.h5 RESULTS.h5
      Checks the interactions analysis (store_all, a grid, baseline "mean"): v(x_S) of every row and mask against
      PyTorch in float64 on the masked inputs rebuilt here (patches from the grid rule, the baseline the mean of
      DATA.h5), and the stored AND and OR effects against dense matrices (tests/interactions_lp.py): they split
      outputs + noise exactly and match every v'(S), |noise| <= noise_bound = 0.02 |v(x_N) - v(x_{})|, and the
      objective columns are their L1.
  onnx_models.py check-features OUTDIR NAME DATA.h5 RESULTS.h5
      Checks the feature_quantization analysis (angle 1e-6: one cluster per feature): its features are the first
      layer's units (a Linear) or filters (a Conv2d), each direction the normalized (weights, bias) of PyTorch's.
"""
import re
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import interactions_lp

torch.set_num_threads(1)


class patterned(nn.Module):
    """A network whose forward can record its switch pattern: ReLU/LeakyReLU signs, clip pieces, max-pool argmaxes."""

    def relu(self, x, rec):
        if rec is not None:
            rec.append((x > 0).flatten(1))
        return F.relu(x)

    def leaky(self, x, slope, rec):
        if rec is not None:
            rec.append((x > 0).flatten(1))
        return F.leaky_relu(x, slope)

    def relu6(self, x, rec):
        if rec is not None:
            rec.append((x > 0).flatten(1))
            rec.append((x > 6).flatten(1))
        return F.relu6(x)

    def maxpool(self, x, rec, **kw):
        y, idx = F.max_pool2d(x, return_indices=True, **kw)
        if rec is not None:
            rec.append(idx.flatten(1))
        return y


def dyadic(t):
    """Rounds to multiples of 2^-8: products and sums of a few such numbers are exact in float32, so the network
    torch.onnx.export writes (batch norm folded into convolutions in float32) is exactly this float64 network."""
    return torch.round(t * 256) / 256


def randomize_bn(bn, g):
    # var + eps is a power of 4: 1/sqrt(var + eps) is a power of two, exact.
    bn.eps = 2.0 ** -10
    with torch.no_grad():
        bn.weight.copy_(dyadic(1 + 0.3 * torch.randn(bn.weight.shape, generator=g)))
        bn.bias.copy_(dyadic(0.2 * torch.randn(bn.bias.shape, generator=g)))
        bn.running_mean.copy_(dyadic(0.2 * torch.randn(bn.running_mean.shape, generator=g)))
        power = torch.randint(-1, 2, bn.running_var.shape, generator=g).to(torch.float32)
        bn.running_var.copy_(4.0 ** power - bn.eps)


class mlp(patterned):
    shape = (20,)

    def __init__(self):
        super().__init__()
        self.f1, self.f2, self.f3 = nn.Linear(20, 32), nn.Linear(32, 32), nn.Linear(32, 5)

    def forward(self, x, rec=None):
        return self.f3(self.relu(self.f2(self.relu(self.f1(x), rec)), rec))


class lenet(patterned):
    """Max pooling, batch norm kept as a BatchNormalization node (after a ReLU) and one folded into a conv."""
    shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6)
        self.c2, self.b2 = nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16)
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x, rec=None):
        x = self.maxpool(self.b1(self.relu(self.c1(x), rec)), rec, kernel_size=2)
        x = self.maxpool(self.relu(self.b2(self.c2(x)), rec), rec, kernel_size=2)
        x = torch.flatten(x, 1)
        return self.f3(self.relu(self.f2(self.relu(self.f1(x), rec)), rec))


class resnet(patterned):
    """A small ResNet: stem, max pooling, an identity residual block and a strided one with a 1x1 shortcut."""
    shape = (3, 16, 16)

    def __init__(self):
        super().__init__()
        self.stem, self.bs = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.a1, self.ab1 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.a2, self.ab2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.d1, self.db1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.d2, self.db2 = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.short, self.sb = nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x, rec=None):
        x = self.relu(self.bs(self.stem(x)), rec)
        x = self.maxpool(x, rec, kernel_size=2)
        y = self.relu(self.ab1(self.a1(x)), rec)
        x = self.relu(x + self.ab2(self.a2(y)), rec)
        y = self.relu(self.db1(self.d1(x)), rec)
        x = self.relu(self.sb(self.short(x)) + self.db2(self.d2(y)), rec)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class depthwise(patterned):
    """A depthwise (groups = channels) strided convolution between ReLU6 clips."""
    shape = (3, 12, 12)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.fc = nn.Linear(8 * 5 * 5, 4)

    def forward(self, x, rec=None):
        x = self.relu6(self.c1(x) * 3, rec)
        x = self.relu6(self.dw(x) * 3, rec)
        return self.fc(torch.flatten(x, 1))


class leaky_avg(patterned):
    """Constant arithmetic, LeakyReLU, average pooling with and without padding counted, a concatenation,
    ceil-mode max pooling, constant padding and a dilated convolution."""
    shape = (2, 10, 10)

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 6, 3, padding=1)
        self.c2 = nn.Conv2d(12, 6, 3, padding=2, dilation=2)
        self.fc = nn.Linear(6 * 5 * 5, 3)

    def forward(self, x, rec=None):
        x = (x - 0.5) / 0.25
        h = self.leaky(self.c1(x), 0.1, rec)
        h = torch.cat([F.avg_pool2d(h, 2), F.avg_pool2d(h, 3, stride=2, padding=1, count_include_pad=False)], 1)
        h = self.leaky(self.c2(h), 0.2, rec)
        h = self.maxpool(h, rec, kernel_size=2, ceil_mode=True)
        h = F.pad(h, (1, 1, 1, 1), value=0.5)
        return self.fc(torch.flatten(F.avg_pool2d(h, 1), 1))


NETWORKS = {"mlp": mlp, "lenet": lenet, "resnet": resnet, "depthwise": depthwise, "leaky_avg": leaky_avg}


def make(name):
    torch.manual_seed(sum(map(ord, name)))
    net = NETWORKS[name]()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(dyadic(p))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            randomize_bn(m, g)
    return net.eval()


def export(net, shape, path, **kw):
    torch.onnx.export(net, torch.rand((1,) + tuple(shape)), path, opset_version=13, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, **kw)


# ---- networks GenScope must refuse ----

class unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.f1, self.f2 = nn.Linear(6, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.f2(torch.sigmoid(self.f1(x)))


class two_inputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Linear(6, 3)

    def forward(self, x, y):
        return self.f(x + y)


class two_outputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.f, self.g = nn.Linear(6, 3), nn.Linear(6, 2)

    def forward(self, x):
        return self.f(x), self.g(x)


class square(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Linear(6, 3)

    def forward(self, x):
        return self.f(x * x)


class view_batch(nn.Module):
    def __init__(self):
        super().__init__()
        self.c, self.f = nn.Conv2d(1, 2, 3), nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        x = F.relu(self.c(x))
        return self.f(x.view(x.size(0), -1))


class image_logits(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 3, 3)

    def forward(self, x):
        return self.c(x)


def build(out):
    for name in NETWORKS:
        net = make(name)
        export(net, net.shape, f"{out}/{name}.onnx")
        g = torch.Generator().manual_seed(11)
        x = torch.rand((1000,) + net.shape, generator=g)
        with torch.no_grad():
            logits = net(x)
            data = torch.rand((200,) + net.shape, generator=g)
            labels = net(data).argmax(1)
        with h5py.File(f"{out}/{name}.h5", "w") as f:
            f["X"] = x.numpy()
            f["logits"] = logits.numpy()
        with h5py.File(f"{out}/{name}_data.h5", "w") as f:
            f["X"] = data.numpy()
            f["y"] = labels.numpy().astype(np.int64)
            f["y"].attrs["class_count"] = logits.shape[1]
    torch.manual_seed(0)
    export(unsupported(), (6,), f"{out}/unsupported.onnx")
    torch.onnx.export(two_inputs(), (torch.rand(1, 6), torch.rand(1, 6)), f"{out}/two_inputs.onnx", opset_version=13,
                      input_names=["x", "y"])
    export(two_outputs(), (6,), f"{out}/two_outputs.onnx")
    export(square(), (6,), f"{out}/square.onnx")
    export(view_batch(), (1, 6, 6), f"{out}/view_batch.onnx")
    export(image_logits(), (1, 6, 6), f"{out}/image_logits.onnx")
    torch.onnx.export(image_logits(), torch.rand(1, 1, 6, 6), f"{out}/symbolic.onnx", opset_version=13,
                      input_names=["x"], dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}})


# ---- oracles ----

def load_runs(data_path, results_path):
    with h5py.File(data_path, "r") as f:
        X = f["X"][...].astype(np.float32)
    runs = []
    with h5py.File(results_path, "r") as f:
        for name, g in f["runs"].items():
            cols = {k: g[k][...] for k in g.keys() if isinstance(g[k], h5py.Dataset)}
            runs.append((name, cols))
    return X, runs


def check_exact(name, data_path, results_path):
    net = make(name).double()
    X, runs = load_runs(data_path, results_path)
    shape = X.shape[1:]
    flat = X.reshape(len(X), -1)  # float32, as the samplers compute d
    problems, probes, regions_seen, grid_points = [], 0, 0, 0

    def classes(points):
        with torch.no_grad():
            return net(points.reshape((-1,) + tuple(shape))).argmax(1)

    def patterns(points):
        """Every switch's state at each point: a list of (points x units) tensors, one per switch layer."""
        rec = []
        with torch.no_grad():
            net(points.reshape((-1,) + tuple(shape)), rec)
        return rec

    def changes(pats, step):
        """Whether each point's pattern differs from that of the point `step` rows before (False for the first)."""
        out = torch.zeros(len(pats[0]), dtype=torch.bool)
        for r in pats:
            out[step:] |= (r[step:] != r[:-step]).any(1)
        return out

    for run, c in runs:
        starts, counts, bps = c["breakpoint_start"], c["breakpoint_count"], c["breakpoints"]
        for p in range(len(c["probe"])):
            probes += 1
            # The probe as the sampler made it: x + d is the partner (d = x_j - x_i in float32) or the partners'
            # midpoint (computed in float64, rounded to float32).
            x32 = flat[c["anchor"][p]]
            j, k = c["partner_1"][p], c["partner_2"][p]
            if k < 0:
                d32 = flat[j] - x32
            else:
                mid = (flat[j].astype(np.float64) + flat[k].astype(np.float64)) / 2
                d32 = (mid - x32.astype(np.float64)).astype(np.float32)
            x, d = torch.tensor(x32, dtype=torch.float64), torch.tensor(d32, dtype=torch.float64)
            t_lo, t_hi, c0 = c["t_lo"][p], c["t_hi"][p], c["class"][p]
            line = lambda t: x[None, :] + torch.as_tensor(t, dtype=torch.float64)[:, None] * d[None, :]
            where = f"{run} probe {p}"
            # The class is c0 on a dense grid strictly inside the interval.
            inner = np.linspace(t_lo, t_hi, 2001)[1:-1]
            got = classes(line(inner))
            if (got != c0).any():
                problems.append(f"{where}: class {int(got[got != c0][0])} inside [{t_lo}, {t_hi}] (class {c0})")
            for end, cls, clipped, sign in ((t_hi, c["class_hi"][p], c["clipped_hi"][p], 1),
                                            (t_lo, c["class_lo"][p], c["clipped_lo"][p], -1)):
                if clipped:
                    continue
                past = end + sign * 1e-7 * max(1.0, abs(end))
                k = int(classes(line([past]))[0])
                if k != cls:
                    problems.append(f"{where}: class {k} just past {end}, the walk says {cls}")
            # Breakpoints: each separates two patterns, none is missing between two of them.
            b = np.sort(bps[starts[p]:starts[p] + counts[p]])
            cuts = np.concatenate([[t_lo], b, [t_hi]])
            regions_seen += len(cuts) - 1
            mids = (cuts[:-1] + cuts[1:]) / 2
            differ = changes(patterns(line(mids)), 1)[1:]
            if not differ.all():
                k = int(torch.nonzero(~differ)[0])
                problems.append(f"{where}: breakpoint {b[k]} separates two equal patterns")
            # 3 points inside each region share its pattern (regions in chunks, one batched evaluation each).
            wide = [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi - lo > 1e-9 * max(1.0, abs(hi))]
            frac = np.array([0.05, 0.5, 0.95])
            for first in range(0, len(wide), 200):
                chunk = np.array(wide[first:first + 200])
                ts = (chunk[:, :1] + (chunk[:, 1:] - chunk[:, :1]) * frac[None, :]).ravel()
                grid_points += len(ts)
                bad = torch.zeros(len(chunk), dtype=torch.bool)
                for r in patterns(line(ts)):
                    r = r.reshape(len(chunk), len(frac), -1)
                    bad |= (r != r[:, :1, :]).any(2).any(1)
                if bad.any():
                    lo, hi = chunk[int(np.nonzero(bad.numpy())[0][0])]
                    problems.append(f"{where}: a pattern change inside ({lo}, {hi}) that the walk did not report")
                    break
            if c["regions_lo"][p] + c["regions_hi"][p] - 2 != counts[p]:
                problems.append(f"{where}: {counts[p]} breakpoints, regions {c['regions_lo'][p]} + {c['regions_hi'][p]}")
    print(f"{name}: {probes} probes, {regions_seen} regions, {grid_points} grid points checked, "
          f"{len(problems)} problems")
    for msg in problems[:10]:
        print("  " + msg)
    return 1 if problems or probes == 0 else 0


def check_jacobian(name, data_path, results_path):
    net = make(name).double()
    with h5py.File(data_path, "r") as f:
        X = torch.tensor(f["X"][...], dtype=torch.float64)
    with h5py.File(results_path, "r") as f:
        g = f["analyses/jacobian/points"]
        index, frob = g["index"][...], g["linear_frobenius"][...]
    worst = 0.0
    for i, fr in zip(index, frob):
        jac = torch.autograd.functional.jacobian(lambda z: net(z[None])[0], X[i])
        expect = float(jac.reshape(jac.shape[0], -1).norm())
        worst = max(worst, abs(fr - expect) / max(1e-12, expect))
    print(f"{name}: {len(index)} points, largest relative error of ||A||_F {worst:.2e}")
    return 0 if worst <= 1e-9 and len(index) > 0 else 1


def check_manifold(name, data_path, results_path):
    net = make(name).double()
    with h5py.File(data_path, "r") as f:
        X = torch.tensor(f["X"][...], dtype=torch.float64)
    with torch.no_grad():
        values = {"input": X.reshape(len(X), -1).numpy(), "logits": net(X).numpy()}
    with h5py.File(results_path, "r") as f:
        g = f["analyses/geometry/manifolds"]
        layer = g["layer"].asstr()[...]
        start, count, members = g["members_start"][...], g["members_count"][...], g["members"][...]
        centre_norm, kkt = g["centre_norm"][...], g["kkt_violation"][...]
        capacity, radius, dimension = g["capacity"][...], g["radius"][...], g["dimension"][...]
        layers = f["analyses/geometry/layers"]["layer"].asstr()[...]
    problems = []
    if list(layers[:1]) != ["input"] or list(layers[-1:]) != ["logits"] or len(layers) < 3:
        problems.append(f"layers measured: {list(layers)}")
    if not (np.isfinite(capacity).all() and (capacity > 0).all() and np.isfinite(radius).all()
            and np.isfinite(dimension).all()):
        problems.append("a capacity, radius or dimension is not finite and positive")
    if kkt.max() > 1e-8:
        problems.append(f"largest KKT residual {kkt.max():.2e}")
    worst = 0.0
    for name_ in ("input", "logits"):
        rows = np.flatnonzero(layer == name_)
        sets = [members[start[r]:start[r] + count[r]] for r in rows]
        v = values[name_]
        origin = v[np.concatenate(sets)].mean(axis=0)
        for r, s in zip(rows, sets):
            expect = np.linalg.norm(v[s].mean(axis=0) - origin)
            worst = max(worst, abs(centre_norm[r] - expect) / max(1e-12, expect))
    if worst > 1e-5:
        problems.append(f"largest relative error of a centre norm {worst:.2e}")
    print(f"{name}: {len(layers)} layers, {len(layer)} manifolds, largest relative centre norm error {worst:.2e}")
    for p in problems:
        print(p)
    return 1 if problems else 0


FIRST_LAYER = {"mlp": "f1", "lenet": "c1", "depthwise": "c1", "leaky_avg": "c1", "resnet": "stem"}


def first_layer(name):
    """The affine map from the input to the first switch, per output unit or filter: (weights, bias) in float64."""
    net = make(name).double()
    layer = getattr(net, FIRST_LAYER[name])
    w = layer.weight.detach().reshape(layer.weight.shape[0], -1)
    b = layer.bias.detach() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if name == "leaky_avg":  # x -> (x - 0.5) / 0.25 first; an interior unit sees every kernel entry
        w, b = w / 0.25, b - (0.5 / 0.25) * w.sum(1)
    if name == "resnet":  # the stem's batch norm, before its ReLU
        bn = net.bs
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        w, b = w * scale[:, None], bn.bias.detach() - scale * bn.running_mean + scale * b
    return w, b


def check_features(name, results_path):
    w, b = first_layer(name)
    expect = torch.cat([w, b[:, None]], 1)
    expect = (expect / expect.norm(dim=1, keepdim=True)).numpy()
    with h5py.File(results_path, "r") as f:
        s = f["analyses/features/summary"]
        features, input_dim = int(s["features"][0]), int(s["input_dim"][0])
        c = f["analyses/features/clusters"]
        directions = c["direction"][...].reshape(len(c["features"]), -1)
    problems = []
    if features != expect.shape[0] or input_dim != w.shape[1]:
        problems.append(f"{features} features of {input_dim} weights, PyTorch's first layer has "
                        f"{expect.shape[0]} of {w.shape[1]}")
    worst = 0.0
    if not problems:
        for e in expect:
            worst = max(worst, 1 - float((directions @ e).max()))
        if worst > 1e-6:
            problems.append(f"a PyTorch feature's best cosine among the directions is 1 - {worst:.2e}")
    print(f"{name}: {features} features of {input_dim} weights, worst 1 - cosine {worst:.2e}")
    for p in problems:
        print(p)
    return 1 if problems else 0


def check_planes(name, data_path, results_path):
    net = make(name).double()
    with h5py.File(data_path, "r") as f:
        shape = f["X"].shape[1:]

    def evaluate(points):
        """PyTorch's logits and switch pattern (one row of int64 per point) at points (n x input_dim)."""
        rec = []
        with torch.no_grad():
            logits = net(torch.as_tensor(points, dtype=torch.float64).reshape((-1,) + tuple(shape)), rec)
        return logits.numpy(), torch.cat([r.flatten(1).to(torch.int64) for r in rec], 1).numpy()

    problems, regions_seen = [], 0
    with h5py.File(results_path, "r") as f:
        t = f["analyses/planes/planes"]

        def ragged(column, r):
            start, count = t[column + "_start"][r], t[column + "_count"][r]
            return t[column][start:start + count]

        for r in range(len(t["regions"])):
            origin, axis_s, axis_t = ragged("basis", r).reshape(3, -1)
            s_lo, s_hi, t_lo, t_hi = t["box"][r]
            at = lambda st: origin[None, :] + st[:, :1] * axis_s[None, :] + st[:, 1:] * axis_t[None, :]

            def polygons(prefix):
                sizes = ragged(prefix + "_sizes", r)
                return np.split(ragged(prefix + "_vertices", r).reshape(-1, 2), np.cumsum(sizes)[:-1])

            regions, pieces = polygons("region"), polygons("piece")
            classes = len(ragged("region_logits", r)) // (3 * len(regions))
            forms = ragged("region_logits", r).reshape(len(regions), 3, classes)
            area = lambda q: 0.5 * np.sum(q[:, 0] * np.roll(q[:, 1], -1) - np.roll(q[:, 0], -1) * q[:, 1])
            box_area = (s_hi - s_lo) * (t_hi - t_lo)
            total = sum(area(q) for q in regions)
            if abs(total - box_area) > 1e-9 * box_area:
                problems.append(f"row {r}: the regions' areas sum to {total}, the box's is {box_area}")
            # Three points inside each region: the centroid and halfway from it to two vertices.
            inner = []
            for q in regions:
                c = q.mean(0)
                inner += [c, (c + q[0]) / 2, (c + q[len(q) // 2]) / 2]
            logits, pattern = evaluate(at(np.array(inner)))
            pattern = pattern.reshape(len(regions), 3, -1)
            split = np.nonzero((pattern != pattern[:, :1]).any(2).any(1))[0]
            if len(split):
                problems.append(f"row {r}: {len(split)} regions hold two PyTorch patterns (first: region {split[0]})")
            seen = {}
            for k, p in enumerate(pattern[:, 0]):
                other = seen.setdefault(p.tobytes(), k)
                if other != k:
                    problems.append(f"row {r}: regions {other} and {k} have one PyTorch pattern")
                    break
            centre = np.array([q.mean(0) for q in regions])
            ours = forms[:, 0] + forms[:, 1] * centre[:, :1] + forms[:, 2] * centre[:, 1:]
            worst = np.abs(ours - logits.reshape(len(regions), 3, -1)[:, 0]).max() / (1 + np.abs(logits).max())
            if worst > 1e-9:
                problems.append(f"row {r}: region logits differ from PyTorch's by {worst:.2e} (relative)")
            # A grid over the box finds no pattern the partition lacks.
            g = np.linspace(0.01, 0.99, 40)
            grid = np.array([[s_lo + a * (s_hi - s_lo), t_lo + b * (t_hi - t_lo)] for a in g for b in g])
            _, grid_patterns = evaluate(at(grid))
            missing = sum(p.tobytes() not in seen for p in grid_patterns)
            if missing:
                problems.append(f"row {r}: {missing} of {len(grid)} grid points have a pattern of no region")
            # Each decision piece's class is PyTorch's argmax inside it (clear of ties).
            labels = ragged("piece_class", r)
            piece_logits, _ = evaluate(at(np.array([q.mean(0) for q in pieces])))
            ordered = np.sort(piece_logits, 1)
            clear = ordered[:, -1] - ordered[:, -2] > 1e-9
            wrong = np.nonzero(clear & (piece_logits.argmax(1) != labels))[0]
            if len(wrong):
                problems.append(f"row {r}: {len(wrong)} decision pieces of the wrong class (first: {wrong[0]})")
            regions_seen += len(regions)
    print(f"{name}: {regions_seen} regions checked, {len(problems)} problems")
    for p in problems[:10]:
        print("  " + p)
    return 1 if problems or regions_seen == 0 else 0


def grid_patches(shape, rows, cols):
    """The variable of every input under the interactions plugin's grid rule: an input at (i, j) of the last two
    axes (every channel alike) is in patch (i * rows // H) * cols + j * cols // W; a 1-D input is one row."""
    height, width = (1, shape[0]) if len(shape) == 1 else shape[-2:]
    i, j = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    patch = (i * rows // height) * cols + j * cols // width
    return np.broadcast_to(patch, tuple(shape[:-2]) + patch.shape).reshape(-1)


def check_interactions(name, data_path, results_path):
    net = make(name).double()
    with h5py.File(data_path, "r") as f:
        X = f["X"][...].astype(np.float32)
        labels = f["y"][...]
    shape = X.shape[1:]
    flat = X.reshape(len(X), -1)
    # The baseline "mean": each input's mean over the data set, in float64, then rounded to float32 as the plugin.
    baseline = flat.astype(np.float64).mean(0).astype(np.float32)
    problems, worst_v, worst_split, rows = [], 0.0, 0.0, 0
    with h5py.File(results_path, "r") as f:
        g = f["analyses/interactions"]
        options = g.attrs["options"]
        options = options.decode() if isinstance(options, bytes) else options
        grid = re.search(r"grid = \"?(\d+)x(\d+)", options)
        patch = grid_patches(shape, int(grid[1]), int(grid[2]))
        n = int(grid[1]) * int(grid[2])
        masks = np.arange(1 << n)
        present = (masks[:, None] >> patch[None, :]) & 1 == 1  # masks x inputs
        t = g["samples"]
        ragged = lambda column, r: interactions_lp.ragged(t, column, r)
        for r in range(len(t["index"])):
            rows += 1
            i, y = int(t["index"][r]), int(t["target"][r])
            where = f"row {r} (sample {i})"
            if y != labels[i] or int(t["label"][r]) != labels[i]:
                problems.append(f"{where}: target {y}, label {t['label'][r]}, the data's label {labels[i]}")
            # (a) v(x_S) from PyTorch in float64: the log-odds of the target on each masked input.
            masked = np.where(present, flat[i][None, :], baseline[None, :]).astype(np.float64)
            with torch.no_grad():
                logits = net(torch.tensor(masked).reshape((-1,) + shape))
            others = torch.cat([logits[:, :y], logits[:, y + 1:]], 1)
            expect = (logits[:, y] - torch.logsumexp(others, 1)).numpy()
            v = ragged("outputs", r)
            if len(v) != len(masks):
                problems.append(f"{where}: {len(v)} outputs, {len(masks)} masks")
                continue
            error = float(np.abs(v - expect).max() / max(1.0, float(np.abs(expect).max())))
            worst_v = max(worst_v, error)
            if error > 1e-5:
                problems.append(f"{where}: v(x_S) differs from PyTorch's by {error:.2e} (relative)")
            # (b) The effects against the dense definitions, the noise within its bound.
            noise, tau = ragged("noise", r), float(t["noise_bound"][r])
            split_error, matching_error, l1 = interactions_lp.split_check(v, ragged("and_effects", r),
                                                                          ragged("or_effects", r), noise)
            size = max(1.0, float(np.abs(v).max()))
            worst_split = max(worst_split, split_error / size, matching_error / size)
            if max(split_error, matching_error) > 1e-9 * size:
                problems.append(f"{where}: the effects miss v + q by {split_error:.2e}, matching by "
                                f"{matching_error:.2e}")
            if abs(tau - 0.02 * abs(v[-1] - v[0])) > 1e-12 * size or float(np.abs(noise).max()) > tau:
                problems.append(f"{where}: noise_bound {tau:.6g}, |v(x_N) - v(x_{{}})| {abs(v[-1] - v[0]):.6g}, "
                                f"|q| up to {np.abs(noise).max():.6g}")
            before = interactions_lp.plain_objective(v)
            if (abs(l1 - t["objective"][r]) > 1e-9 * size or abs(before - t["objective_before"][r]) > 1e-9 * size
                    or t["objective"][r] > t["objective_before"][r]):
                problems.append(f"{where}: objective {t['objective'][r]:.12g} (the effects' L1 {l1:.12g}), before "
                                f"{t['objective_before'][r]:.12g} (the half-half split's {before:.12g})")
    print(f"{name}: {rows} rows of {len(masks)} masks, largest relative error of v(x_S) {worst_v:.2e}, of the "
          f"split and matching {worst_split:.2e}")
    for p in problems[:10]:
        print("  " + p)
    return 1 if problems or rows == 0 else 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "build":
        build(sys.argv[2])
    elif command == "check-exact":
        sys.exit(check_exact(sys.argv[3], sys.argv[4], sys.argv[5]))
    elif command == "check-jacobian":
        sys.exit(check_jacobian(sys.argv[3], sys.argv[4], sys.argv[5]))
    elif command == "check-manifold":
        sys.exit(check_manifold(sys.argv[3], sys.argv[4], sys.argv[5]))
    elif command == "check-planes":
        sys.exit(check_planes(sys.argv[3], sys.argv[4], sys.argv[5]))
    elif command == "check-interactions":
        sys.exit(check_interactions(sys.argv[3], sys.argv[4], sys.argv[5]))
    elif command == "check-features":
        sys.exit(check_features(sys.argv[3], sys.argv[5]))
    else:
        sys.exit(f"unknown command {command}")
