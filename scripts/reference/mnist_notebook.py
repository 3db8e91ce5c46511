#!/usr/bin/python3
"""The MNIST notebook's FC2Layer and CNN in PyTorch, for side-by-side runs with cnntrain.

Reads the official idx files (no torchvision needed), trains each model for one epoch
with the notebook's settings (SGD lr 0.01 momentum 0.5, batch 64, shuffled, the last
partial batch kept) and prints accuracy and training images/s. The images are
normalized once up front, so the timing is PyTorch's best case: the notebook's
torchvision transforms would only add per-image work.

    /usr/bin/python3 scripts/reference/mnist_notebook.py --data .data [--seeds 0 1 2] [--threads 2]

Needs Debian's python3-torch (apt-get install python3-torch); CI does not run it.
"""
import argparse, gzip, json, os, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder, split):
    prefix = "train" if split == "train" else "t10k"
    def find(name):
        for cand in (name + ".gz", name):
            p = os.path.join(folder, "mnist", cand)
            if os.path.exists(p):
                return p
        raise FileNotFoundError(name)
    x = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - 0.1307) / 0.3081
    return x, torch.from_numpy(y.astype(np.int64))


class FC2Layer(nn.Module):
    def __init__(self, input_size, n_hidden, output_size):
        super().__init__()
        self.input_size = input_size
        self.network = nn.Sequential(
            nn.Linear(input_size, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, output_size), nn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.network(x.view(-1, self.input_size))


class CNN(nn.Module):
    def __init__(self, input_size, n_feature, output_size):
        super().__init__()
        self.n_feature = n_feature
        self.conv1 = nn.Conv2d(1, n_feature, kernel_size=5)
        self.conv2 = nn.Conv2d(n_feature, n_feature, kernel_size=5)
        self.fc1 = nn.Linear(n_feature * 4 * 4, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), kernel_size=2)
        x = F.max_pool2d(F.relu(self.conv2(x)), kernel_size=2)
        x = x.view(-1, self.n_feature * 4 * 4)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


def run(model, train, test, seed, perm=None):
    xtr, ytr = train
    xte, yte = test
    if perm is not None:
        xtr = xtr.view(-1, 784)[:, perm].view(-1, 1, 28, 28)
        xte = xte.view(-1, 784)[:, perm].view(-1, 1, 28, 28)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(ytr), generator=g)
    model.train()
    start = time.perf_counter()
    for i in range(0, len(ytr), 64):
        idx = order[i : i + 64]
        opt.zero_grad()
        loss = F.nll_loss(model(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xte[i:i+1000]).argmax(1) == yte[i:i+1000]).sum()) for i in range(0, len(yte), 1000))
    return 100.0 * correct / len(yte), len(ytr) / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("CNNTRAIN_DATA", "data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = load(args.data, "train"), load(args.data, "test")
    results = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        perm = torch.randperm(784)
        for name, make in (("fc", lambda: FC2Layer(784, 8, 10)), ("cnn", lambda: CNN(784, 6, 10))):
            for kind, p in (("plain", None), ("permuted", perm)):
                torch.manual_seed(seed)
                acc, ips = run(make(), train, test, seed, p)
                results.append(dict(seed=seed, model=name, kind=kind, accuracy=acc, images_per_second=ips))
                print(f"seed {seed}  {name:3s} {kind:8s}  accuracy {acc:.2f} %  ({ips:.0f} images/s)", flush=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
