#!/usr/bin/env python3
"""One epoch of a CIFAR-10 notebook model in PyTorch on the GPU, for scripts/gpu-check.sh to put
beside cnntrain's run on the same card and the same files: the training subset read from the
CIFAR-10 binary batches, the notebook's preset (VGG: batch 128, Adam 1e-3, RandomCrop(32, 4) and flip,
the dataset's normalization; LeNet: batch 64, Adam 1e-3, normalization 0.5/0.5), then the test set in
eval mode. Prints one JSON line: images/s of the training epoch (data already on the GPU, the
augmentation done there) and the test accuracy.

    python3 scripts/reference/gpu_torch.py --data gpu/data --model vgg16 --train 10000 [--tf32]

--epochs and --bn-batch-stats-at-test run notebook 05_03 itself (configs/cifar10-vgg-notebook.yaml:
vgg11, 10 epochs, the test set evaluated with BatchNorm in training mode, as the notebook never calls
model.eval()); seconds is then the whole run's wall time, evaluation included.
"""
import argparse, json, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "parity"))
from notebook_models import VGG_CFG, LeNet, VGG  # noqa: E402

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def read_batches(folder, names):
    data = bytearray()
    for n in names:
        with open(os.path.join(folder, n), "rb") as f:
            data += f.read()
    raw = torch.frombuffer(data, dtype=torch.uint8).view(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].long()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", choices=["vgg11", "vgg16", "lenet"], required=True)
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--bn-batch-stats-at-test", action="store_true")
    ap.add_argument("--device", default="cuda", help="cpu only to try the script where there is no GPU")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    folder = os.path.join(args.data, "cifar-10-batches-bin")
    xs, ys = read_batches(folder, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xt, yt = read_batches(folder, ["test_batch.bin"])
    xs, ys = xs[: args.train], ys[: args.train]
    vgg = args.model != "lenet"
    mean, std = (MEAN, STD) if vgg else ((0.5,) * 3, (0.5,) * 3)
    m = torch.tensor(mean, device=dev).view(1, 3, 1, 1)
    s = torch.tensor(std, device=dev).view(1, 3, 1, 1)
    to = lambda a: (a.to(dev).float() / 255 - m) / s
    x, y, x_test, y_test = to(xs), ys.to(dev), to(xt), yt.to(dev)
    model = (VGG(VGG_CFG[args.model]) if vgg else LeNet()).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = 128 if vgg else 64
    padded = F.pad(x, (4, 4, 4, 4)) if vgg else None
    ar = torch.arange(32, device=dev)

    def minibatch(idx):
        if not vgg:
            return x[idx]
        n = len(idx)
        oy, ox = torch.randint(0, 9, (n,), device=dev), torch.randint(0, 9, (n,), device=dev)
        rows = (oy[:, None] + ar)[:, None, :, None].expand(n, 3, 32, 40)
        img = torch.gather(padded[idx], 2, rows)
        cols = (ox[:, None] + ar)[:, None, None, :].expand(n, 3, 32, 32)
        img = torch.gather(img, 3, cols)
        flip = torch.rand(n, device=dev) < 0.5
        return torch.where(flip[:, None, None, None], img.flip(3), img)

    model.train()
    sync()
    start = time.perf_counter()
    for _ in range(args.epochs):
        perm = torch.randperm(len(x), device=dev)
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(minibatch(idx)), y[idx])
            loss.backward()
            opt.step()
    sync()
    seconds = time.perf_counter() - start
    if not args.bn_batch_stats_at_test:
        model.eval()
    correct = 0
    test_batch = 128 if args.bn_batch_stats_at_test else 1000  # batch statistics: the notebook's batches
    with torch.no_grad():
        for i in range(0, len(x_test), test_batch):
            correct += (model(x_test[i : i + test_batch]).argmax(1) == y_test[i : i + test_batch]).sum().item()
    sync()
    wall = time.perf_counter() - start
    print(json.dumps({"model": args.model, "tf32": args.tf32, "epochs": args.epochs,
                      "images_per_second": args.epochs * len(x) / seconds, "train_seconds": seconds,
                      "wall_seconds": wall,
                      "accuracy": 100 * correct / len(x_test), "final_loss": loss.item(),
                      "torch": torch.__version__,
                      "gpu": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"}))


if __name__ == "__main__":
    main()
