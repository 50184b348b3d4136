#!/usr/bin/python3
"""Trains the CNN study's two networks in PyTorch and exports them for GenScope (experiments/cnn/cnn.toml).

  experiments/cnn/train_cnn.py [--data-dir DIR] [--out DIR] [--subset N] [--seed S] [--threads K]

Reads Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist by default), picks a seeded subset of N training
images (default 2,000) and 1,000 test images, and trains the same LeNet-5-style CNN (convolutions with batch norm,
ReLU and max pooling, then three dense layers) twice: on the real labels and on a seeded permutation of them
(random labels), each with Adam until it fits 99% of its training labels. It writes, in OUT (default `data/cnn`):

  fashion.h5      X (N x 1 x 28 x 28 float32 in [0, 1]), y (real labels), y_random (the permuted labels, whose
                  attributes label_mode = "random" and true_labels = "y" say so), X_test, y_test: GenScope's hdf5
                  data set source reads it (docs/data-formats.md)
  real.onnx       the real-label network, torch.onnx.export (opset 13), batch norm in inference mode
  random.onnx     the random-label network
  real.pt, random.pt  their state_dicts (bench/torch_reference.py measures PyTorch on the same networks)
  training.csv    per network: epochs, final training loss, training and test accuracy, seconds

Deterministic for a given seed on CPU. Needs Debian's python3-torch, python3-h5py and python3-numpy.
"""
import argparse
import csv
import gzip
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    """An IDX file (raw or gzip) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        sys.exit(f"train_cnn.py: {path}: not an IDX file of unsigned bytes")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        sys.exit(f"train_cnn.py: {path}: {body.size} bytes of data, the header says {shape}")
    return body.reshape(shape)


def find_idx(data_dir, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    sys.exit(f"train_cnn.py: {os.path.join(data_dir, stem)}[.gz] not found (--data-dir names the IDX folder)")


class lenet(nn.Module):
    """LeNet-5 with batch norm: conv 5x5 (6) - BN - ReLU - max pool 2, conv 5x5 (16) - BN - ReLU - max pool 2,
    dense 400-120-84-10 with ReLUs."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(x, y, x_test, y_test, seed, label, max_epochs=400, target=0.99, batch=128):
    torch.manual_seed(seed)
    model = lenet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed + 1)
    start = time.time()
    epoch = 0
    loss_value = float("nan")
    train_acc = 0.0
    while epoch < max_epochs:
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        epoch += 1
        loss_value = total / len(x)
        train_acc = accuracy(model, x, y)
        print(f"\r{label}: epoch {epoch}, loss {loss_value:.4f}, training accuracy {100 * train_acc:.1f}%",
              end="", file=sys.stderr, flush=True)
        if train_acc >= target:
            break
    print(file=sys.stderr)
    if train_acc < target:
        print(f"train_cnn.py: warning: {label} fits {100 * train_acc:.1f}% of its labels after {epoch} epochs "
              f"(target {100 * target:.0f}%)", file=sys.stderr)
    model.eval()
    return model, {"network": label, "epochs": epoch, "train_loss": round(loss_value, 5),
                   "train_accuracy": round(train_acc, 4), "test_accuracy": round(accuracy(model, x_test, y_test), 4),
                   "seconds": round(time.time() - start, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist", help="folder of the IDX files")
    parser.add_argument("--out", default="data/cnn", help="output folder")
    parser.add_argument("--subset", type=int, default=2000, help="training images (seeded subset)")
    parser.add_argument("--test-subset", type=int, default=1000, help="test images (seeded subset)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the subsets, the permutation and training")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: all cores)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    else:
        torch.set_num_threads(os.cpu_count() or 1)
    torch.use_deterministic_algorithms(True)

    images = read_idx(find_idx(args.data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(find_idx(args.data_dir, "train-labels-idx1-ubyte"))
    test_images = read_idx(find_idx(args.data_dir, "t10k-images-idx3-ubyte"))
    test_labels = read_idx(find_idx(args.data_dir, "t10k-labels-idx1-ubyte"))
    if not 0 < args.subset <= len(images) or not 0 < args.test_subset <= len(test_images):
        sys.exit(f"train_cnn.py: --subset must be in 1..{len(images)} and --test-subset in 1..{len(test_images)}")
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(images), args.subset, replace=False))
    pick_test = np.sort(rng.choice(len(test_images), args.test_subset, replace=False))
    x = (images[pick].astype(np.float32) / 255.0)[:, None, :, :]
    y = labels[pick].astype(np.int64)
    y_random = rng.permutation(y)
    x_test = (test_images[pick_test].astype(np.float32) / 255.0)[:, None, :, :]
    y_test = test_labels[pick_test].astype(np.int64)

    os.makedirs(args.out, exist_ok=True)
    with h5py.File(os.path.join(args.out, "fashion.h5"), "w") as f:
        f["X"] = x
        f["y"] = y
        f["y_random"] = y_random
        f["X_test"] = x_test
        f["y_test"] = y_test
        for name in ("y", "y_random", "y_test"):
            f[name].attrs["class_count"] = 10
        # GenScope records and reports y_random as random labels, with y as their true labels.
        f["y_random"].attrs["label_mode"] = "random"
        f["y_random"].attrs["true_labels"] = "y"

    tx, tx_test, t_test = torch.from_numpy(x), torch.from_numpy(x_test), torch.from_numpy(y_test)
    rows = []
    for label, targets in (("real", y), ("random", y_random)):
        model, row = train(tx, torch.from_numpy(targets), tx_test, t_test, args.seed, label)
        rows.append(row)
        torch.save(model.state_dict(), os.path.join(args.out, f"{label}.pt"))
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), os.path.join(args.out, f"{label}.onnx"),
                          input_names=["image"], output_names=["logits"], opset_version=13,
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    with open(os.path.join(args.out, "training.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for row in rows:
        print(f"{row['network']}: {row['epochs']} epochs, training accuracy {100 * row['train_accuracy']:.1f}%, "
              f"test accuracy {100 * row['test_accuracy']:.1f}%, {row['seconds']} s")
    print(f"wrote {args.out}/fashion.h5, real.onnx, random.onnx, real.pt, random.pt, training.csv")


if __name__ == "__main__":
    main()
