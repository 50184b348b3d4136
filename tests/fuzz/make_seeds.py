#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/): small valid inputs of every format.

usage: tests/fuzz/make_seeds.py BUILD/bin/genscope tests/fuzz/corpus
HDF5 inputs are written as the line-based descriptions of tests/fuzz/hdf5_from_text.hpp (dumped from real
files with h5py); the model and results seeds come from a real `genscope run` of a tiny experiment; the ONNX
seeds are tiny networks exported by torch.onnx.export, and a graph model seed is one of them imported."""
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import urllib.parse

import h5py
import numpy as np

TINY = """# every section: synthetic data, a trained model, three samplers, two estimators, two analyses
seed = 5
output = "results.h5"
model_cache = "models"

[datasets.train]
source = "synthetic"
samples = 40
dim = 4
manifold_dim = 2
classes = 2
noise = 0.05

[datasets.test]
source = "synthetic"
samples = 20
dim = 4
manifold_dim = 2
classes = 2
seed = 9
transform = "pca"
pca_dim = 4
pca_fit = "train"

[models.net]
backend = "native"
dataset = "train"
test = "test"

[models.net.train]
hidden = [8, 8]
epochs = 3
batch_size = 8
optimizer = "sgd"
checkpoints = [1, 2]

[samplers.pairs]
plugin = "pairwise"
dataset = "train"
count = 10

[samplers.mid]
plugin = "midline"
dataset = "train"
count = 5

[samplers.tangent]
plugin = "local_pca"
dataset = "train"
k = 6
anchors = 4

[estimators.bisect]
plugin = "bisection"
T = 2.0
h = 0.1

[estimators.exact]
plugin = "exact"
T = 2.0

[runs.a]
model = "net"
sampler = "pairs"
estimator = "bisect"
batch_size = 4

[runs.b]
model = "net"
sampler = "tangent"
estimator = "exact"

[runs.c]
model = "net"
sampler = "mid"
estimator = "exact"

[analyses.sens]
plugin = "jacobian"
model = "net"
datasets = ["train", "test"]
points = 6
batch_size = 2

[analyses.loops]
plugin = "transitions"
model = "net"
datasets = ["train"]
triplets = 2
K = 16
"""

IDX = """seed = 1
output = "r.h5"
model_cache = "m"

[datasets.real]
source = "idx"
subset = 100
transform = "avgpool2"

[datasets.random]
source = "idx"
subset = 100
label_mode = "random"

[models.real]
backend = "native"
dataset = "real"

[models.real.train]
hidden = [16]
epochs = 2
target_accuracy = 0.9

[samplers.pairs]
plugin = "pairwise"
dataset = "real"
count = 4
same_label = true

[estimators.bisect]
plugin = "bisection"

[runs.real]
model = "real"
sampler = "pairs"
estimator = "bisect"
"""


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def idx_bytes(array, type_code):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(">u1" if type_code == 0x08 else ">f4").tobytes()


TYPES = {"float32": "f32", "float64": "f64", "int8": "i8", "uint8": "u8", "int32": "i32", "uint32": "u32",
         "int64": "i64", "uint64": "u64"}


def described(values):
    """TYPE DIMS VALUE... of a numpy value or array, as hdf5_from_text.hpp reads them."""
    a = np.asarray(values)
    dims = "x".join(str(d) for d in a.shape) if a.ndim else "scalar"
    if a.dtype.kind in "OSU":
        text = [v.decode() if isinstance(v, bytes) else str(v) for v in a.ravel()]
        return f"str {dims} " + " ".join(urllib.parse.quote(v, safe="") for v in text)
    return f"{TYPES[a.dtype.name]} {dims} " + " ".join(repr(v.item()) for v in a.ravel())


def dump(path):
    """Every group, dataset and attribute of an HDF5 file as description lines."""
    lines = []
    with h5py.File(path, "r") as f:
        def attributes(obj, name):
            for k, v in obj.attrs.items():
                lines.append(f"attr {name} {k} {described(v)}")
        attributes(f, "/")

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                lines.append(f"group /{name}")
            else:
                lines.append(f"dataset /{name} {described(obj[()])}")
            attributes(obj, "/" + name)
        f.visititems(visit)
    return ("\n".join(lines) + "\n").encode()


def main():
    genscope, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    write(f"{out}/fuzz_experiment/tiny.toml", TINY.encode())
    write(f"{out}/fuzz_experiment/idx.toml", IDX.encode())

    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labels = np.array([1, 7], dtype=np.uint8)
    write(f"{out}/fuzz_idx/images", b"\x00" + idx_bytes(images, 0x08))
    write(f"{out}/fuzz_idx/labels", b"\x00" + idx_bytes(labels, 0x08))
    write(f"{out}/fuzz_idx/floats", b"\x00" + idx_bytes(np.linspace(0, 1, 6).reshape(2, 3), 0x0D))
    write(f"{out}/fuzz_idx/images-gz", b"\x01" + gzip.compress(idx_bytes(images, 0x08), mtime=0))

    # CIFAR-10 records: a label byte, then 3 x 32 x 32 pixel bytes; the first byte is the subset (0: all).
    pixels = (np.arange(3 * 3072) * 7 % 256).reshape(3, 3072)
    cifar = np.column_stack([[3, 9, 0], pixels]).astype(np.uint8).tobytes()
    write(f"{out}/fuzz_cifar/three", b"\x00" + cifar)
    write(f"{out}/fuzz_cifar/subset", b"\x02" + cifar)

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/data.h5"
        with h5py.File(path, "w", libver="earliest") as f:
            f["X"] = np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4)
            f["y"] = np.array([0, 1, 2, 0, 1, 2], dtype=np.int64)
        write(f"{out}/fuzz_hdf5_data/xy.txt", dump(path))
        with h5py.File(path, "w", libver="earliest") as f:
            f["X"] = np.linspace(-1, 1, 24, dtype=np.float64).reshape(6, 1, 2, 2)
            f["y"] = np.array([0, 1, 0, 1, 0, 1], dtype=np.uint8)
            f["y"].attrs["class_count"] = 3
        write(f"{out}/fuzz_hdf5_data/image.txt", dump(path))

        with h5py.File(path, "w", libver="earliest") as f:
            f["d"] = np.eye(4)[:3]
            f["anchor"] = np.array([0, 5, 9], dtype=np.int64)
        write(f"{out}/fuzz_directions/anchored.txt", dump(path))
        with h5py.File(path, "w", libver="earliest") as f:
            f["d"] = np.ones((2, 4))
            f["x"] = np.zeros((2, 4))
            f["partners"] = np.array([[1, 2], [3, 4]], dtype=np.int64)
        write(f"{out}/fuzz_directions/points.txt", dump(path))

        with open(f"{tmp}/tiny.toml", "w") as f:
            f.write(TINY)
        subprocess.run([genscope, "run", "--quiet", "tiny.toml"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        model = [m for m in os.listdir(f"{tmp}/models") if m.endswith(".h5")][0]
        write(f"{out}/fuzz_model/model.txt", dump(f"{tmp}/models/{model}"))
        with h5py.File(f"{tmp}/models/{model}", "a") as f:  # a training state: the model plus its optimizer
            g = f.create_group("optimizer")
            g.attrs["steps"] = np.int64(15)
            g.attrs["moment_count"] = np.int64(6)
            for k, name in enumerate(["0/weight", "0/bias", "1/weight", "1/bias", "2/weight", "2/bias"]):
                g[f"moment_{k}"] = np.zeros(f["layers"][name].size, dtype=np.float32)
        write(f"{out}/fuzz_model/state.txt", dump(f"{tmp}/models/{model}"))
        write(f"{out}/fuzz_results/results.txt", dump(f"{tmp}/results.h5"))

        for name, data in onnx_seeds(tmp).items():
            write(f"{out}/fuzz_onnx/{name}.onnx", data)
        subprocess.run([genscope, "import", "--quiet", f"{out}/fuzz_onnx/cnn.onnx", "-o", f"{tmp}/graph.h5"], check=True)
        write(f"{out}/fuzz_model/graph.txt", dump(f"{tmp}/graph.h5"))


def onnx_seeds(tmp):
    """Tiny networks covering every supported operator, as torch.onnx.export writes them."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class cnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2)
            self.c2 = nn.Conv2d(2, 2, 3, padding=1, groups=2)
            self.f = nn.Linear(2 * 2 * 2 + 4, 3)

        def forward(self, x):
            x = F.max_pool2d(self.b1(F.relu(self.c1(x))), 2)
            x = F.leaky_relu(x + self.c2(x), 0.1)
            y = torch.cat([F.avg_pool2d(x, 2), F.relu6(F.avg_pool2d(x, 2) * 2)], 1)
            return self.f(torch.cat([torch.flatten(F.pad(F.avg_pool2d(x, 4), (0, 1, 0, 1)), 1),
                                     torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)], 1))

    class mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.f1, self.f2 = nn.Linear(4, 5), nn.Linear(5, 2)

        def forward(self, x):
            return self.f2(torch.clamp(self.f1((x - 0.5) / 2), -1, 1))

    class view(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.f = nn.Conv2d(1, 1, 2), nn.Linear(4, 2)

        def forward(self, x):
            x = F.relu(self.c(x))
            return self.f(x.view(x.size(0), -1))

    torch.manual_seed(0)
    seeds = {}
    for name, net, shape in (("cnn", cnn(), (1, 1, 8, 8)), ("mlp", mlp(), (1, 4)), ("view", view(), (1, 1, 3, 3))):
        path = f"{tmp}/{name}.onnx"
        torch.onnx.export(net.eval(), torch.zeros(shape), path, opset_version=13, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}})
        with open(path, "rb") as f:
            seeds[name] = f.read()
    return seeds


if __name__ == "__main__":
    main()
