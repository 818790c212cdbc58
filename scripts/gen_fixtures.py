#!/usr/bin/env python3
"""Writes the reference outputs the tests compare against, computed by PyTorch itself.

Usage: python3 scripts/gen_fixtures.py   (needs `pip install torch`; torchvision for later fixtures)

Output (small, committed): test/fixtures/*.json. Tests never need Python.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "test", "fixtures")


def tensor_json(t):
    t = t.detach().cpu()
    dtype = str(t.dtype).replace("torch.", "")
    values = t.reshape(-1).tolist()
    return {"shape": list(t.shape), "dtype": dtype, "values": values}


def write(name, payload):
    os.makedirs(OUT, exist_ok=True)
    payload = {"generator": "scripts/gen_fixtures.py", "torch": torch.__version__, **payload}
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


class SmallNet(nn.Module):
    """conv -> batchnorm -> relu -> max-pool -> flatten -> linear, as in the native-core test."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, kernel_size=3, stride=1, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


def small_net():
    torch.manual_seed(1234)
    net = SmallNet()
    with torch.no_grad():
        # Non-trivial affine parameters so that their gradients are tested meaningfully.
        net.bn.weight.copy_(torch.rand(6) + 0.5)
        net.bn.bias.copy_(torch.randn(6) * 0.1)
    state = {k: tensor_json(v) for k, v in net.state_dict().items()}
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    target = torch.tensor([0, 3, 1, 4])
    net.train()
    logits = net(x)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    smoothed = F.cross_entropy(logits.detach(), target, label_smoothing=0.1)
    grads = {k: tensor_json(p.grad) for k, p in net.named_parameters()}
    after = {k: tensor_json(v) for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}
    net.eval()
    with torch.no_grad():
        eval_logits = net(x)
    write(
        "small_net.json",
        {
            "description": "SmallNet conv3x3(3->6)+bias, BatchNorm2d(6), relu, max_pool 2, linear(96->5); train-mode forward/backward",
            "state": state,
            "input": tensor_json(x),
            "target": tensor_json(target),
            "trainLogits": tensor_json(logits),
            "loss": loss.item(),
            "lossLabelSmoothing0.1": smoothed.item(),
            "grads": grads,
            "inputGrad": tensor_json(x.grad),
            "buffersAfterTrainForward": after,
            "evalLogits": tensor_json(eval_logits),
        },
    )


def ops():
    torch.manual_seed(7)
    x = torch.randn(2, 3, 5, 6)
    logits = torch.randn(4, 7)
    idx = torch.tensor([[0, 2], [1, 1], [3, 0], [6, 5]])
    cases = {
        # F.pad order: (left, right, top, bottom), asymmetric as MindSpore's 'same' padding
        "pad_0_1_2_3": F.pad(x, (0, 1, 2, 3)),
        "max_pool2d_k3_s2_p1": F.max_pool2d(x, 3, stride=2, padding=1),
        "avg_pool2d_k2": F.avg_pool2d(x, 2),
        "adaptive_avg_pool2d_1": F.adaptive_avg_pool2d(x, 1),
        "softmax_dim1": F.softmax(logits, dim=1),
        "log_softmax_dim1": F.log_softmax(logits, dim=1),
        "gather_dim1": torch.gather(logits, 1, idx),
        "flip_dims_2_3": torch.flip(x, [2, 3]),
        "permute_0_2_3_1": x.permute(0, 2, 3, 1).contiguous(),
        "conv2d_s2_p_1_2_dil1_groups3": F.conv2d(x, torch.linspace(-1, 1, 3 * 1 * 3 * 3).reshape(3, 1, 3, 3), None, stride=2, padding=(1, 2), groups=3),
    }
    write(
        "ops.json",
        {
            "x": tensor_json(x),
            "logits": tensor_json(logits),
            "index": tensor_json(idx),
            "cases": {k: tensor_json(v) for k, v in cases.items()},
        },
    )


if __name__ == "__main__":
    small_net()
    ops()
