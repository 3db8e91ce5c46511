#!/usr/bin/python3
"""Training speed of the CIFAR-10 notebooks' models in PyTorch, for side-by-side runs with
`make bench` (BenchmarkTrainStep/cifar10-*): random 3x32x32 batches, Adam 1e-3,
cross-entropy, images/s over a few steps after one warm-up step.

    /usr/bin/python3 scripts/reference/cifar_speed.py [--threads N] [--steps 5]

Needs Debian's python3-torch; CI does not run it.
"""
import argparse, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from notebook_models import VGG_CFG, LeNet, VGG  # noqa: E402


def speed(model, batch, steps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for name, make, batch in (
        ("cifar10-lenet", lambda: LeNet(), 64),
        ("cifar10-vgg11-width0.25", lambda: VGG(VGG_CFG["vgg11"], 0.25), 128),
        ("cifar10-vgg11", lambda: VGG(VGG_CFG["vgg11"]), 128),
        ("cifar10-vgg16", lambda: VGG(VGG_CFG["vgg16"]), 128),
    ):
        steps = args.steps if "width" in name or "lenet" in name else max(1, args.steps // 3)
        print(f"{name:28s} {speed(make(), batch, steps):10.1f} images/s", flush=True)


if __name__ == "__main__":
    main()
