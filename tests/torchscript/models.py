# Writes the TorchScript modules and PyTorch's own logits that tests/test_torchscript.cpp checks the torchscript
# backend against: python3 models.py FOLDER (run by the build; nothing binary is committed).
import hashlib
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

folder = sys.argv[1]
torch.manual_seed(7)


class attention_net(nn.Module):
    """1x8x8 inputs as 8 tokens of 8 features: embedding, GELU, LayerNorm, self-attention, mean, 3 logits."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.norm = nn.LayerNorm(16)
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        tokens = self.norm(F.gelu(self.embed(x.reshape(x.shape[0], 8, 8))))
        mixed, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return self.head((tokens + mixed).mean(dim=1))


class conv_net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(F.gelu(self.conv(x)).flatten(1))


class log_net(nn.Module):
    """NaN logits for inputs with a negative value."""

    def forward(self, x):
        return torch.log(x.reshape(x.shape[0], -1))[:, :3]


class double_net(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)[:, :3].double() * 3


class flat_net(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1).sum(dim=1)


class cube_net(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], 8, 8)


class pair_net(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)[:, :3], x


class label_net(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)[:, :3].argmax(dim=1, keepdim=True).repeat(1, 3)


class in_place_net(nn.Module):
    def forward(self, x):
        x.mul_(2)
        return x.reshape(x.shape[0], -1)[:, :3]


class raising_net(nn.Module):
    """Fails on inputs above 100, which zero inputs are not."""

    def forward(self, x):
        if bool((x > 100).any()):
            raise ValueError("an input above 100")
        return x.reshape(x.shape[0], -1)[:, :3]


class float64_net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 3).double()

    def forward(self, x):
        return self.fc(x.reshape(x.shape[0], -1))


class no_forward(nn.Module):
    @torch.jit.export
    def predict(self, x):
        return x


inputs = torch.randn(200, 1, 8, 8)
inputs[::10] = inputs[::10].abs()  # every tenth input positive: finite logits of log_net
with torch.no_grad():
    nets = {"attention": attention_net().eval(), "conv": conv_net().eval(), "log": log_net(), "double": double_net()}
    torch.jit.script(nets["attention"]).save(f"{folder}/attention.pt")
    torch.jit.trace(nets["conv"], torch.zeros(4, 1, 8, 8)).save(f"{folder}/conv.pt")
    torch.save(nets["attention"], f"{folder}/pickled.pt")  # a pickle, not TorchScript: refused
    for name in ["log", "double"]:
        torch.jit.script(nets[name]).save(f"{folder}/{name}.pt")
    for name, net in {"flat": flat_net(), "cube": cube_net(), "pair": pair_net(), "label": label_net(),
                      "in_place": in_place_net(), "raising": raising_net(), "float64": float64_net(),
                      "no_forward": no_forward()}.items():
        torch.jit.script(net).save(f"{folder}/{name}.pt")
    logits = {name: net(inputs).float().numpy() for name, net in nets.items()}

# The inputs and each network's eager PyTorch logits; X and y also make a GenScope HDF5 data set
# (labels: the attention network's classes, so same-label pairs exist in every class it predicts).
with h5py.File(f"{folder}/data.h5", "w") as f:
    f["X"] = inputs.numpy()
    f["y"] = logits["attention"].argmax(axis=1).astype(np.int64)
    f["y"].attrs["class_count"] = 3
    for name, values in logits.items():
        f[f"logits_{name}"] = values
    f.attrs["sha256_attention"] = hashlib.sha256(open(f"{folder}/attention.pt", "rb").read()).hexdigest()
