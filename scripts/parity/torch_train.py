#!/usr/bin/python3
"""Trains the MNIST notebook's model in PyTorch and saves it for cnntrain.

    /usr/bin/python3 scripts/parity/torch_train.py --model cnn --data .data --out /tmp/pt.safetensors
    cnntrain eval --checkpoint /tmp/pt.safetensors --model cnn --dataset mnist

The notebook's settings: FC2Layer(784, 8, 10) or CNN(784, 6, 10) with PyTorch's
default initialisation (torch.manual_seed(--seed) first), SGD lr 0.01 momentum
0.5, minibatches of 64 in a shuffled order (the last partial batch kept),
F.nll_loss, --epochs 1, images normalized (x/255 - 0.1307)/0.3081. Progress
lines ("Train Epoch: 1 [6400/60000 (11%)]\tLoss: ...") go to stderr; after each
epoch the notebook's test line, on the test set in batches of 1000, goes to
stdout:

    Test set: Average loss: 0.1490, Accuracy: 9542/10000 (95%)

The state_dict is saved as safetensors (float32, PyTorch's names, metadata
{"format": "pt"}), which `cnntrain eval` loads strictly. The minibatch order is
drawn from a torch.Generator seeded with --seed, so a run is reproducible here
but does not follow cnntrain's order: compare accuracies, not bits.

Needs only Debian's python3-torch.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_io  # noqa: E402
from notebook_models import CNN, FC2Layer  # noqa: E402
from safetensors_io import save_file  # noqa: E402
from torch_eval import evaluate, test_line  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    ap.add_argument("--data", default=os.environ.get("CNNTRAIN_DATA", "data"), help="data folder (DATA/mnist/...)")
    ap.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    ap.add_argument("--out", required=True, help="where to save the state_dict (.safetensors)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=8, help="mlp hidden width")
    ap.add_argument("--features", type=int, default=6, help="cnn feature maps")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--test-batch-size", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    xtr, ytr = mnist_io.load(args.data, "train", args.dataset)
    xte, yte = mnist_io.load(args.data, "test", args.dataset)

    torch.manual_seed(args.seed)
    model = FC2Layer(784, args.hidden, 10) if args.model == "mlp" else CNN(784, args.features, 10)
    print("Number of parameters: {}".format(sum(p.numel() for p in model.parameters())), file=sys.stderr)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    order_rng = torch.Generator().manual_seed(args.seed)
    n = len(ytr)
    batches = (n + args.batch_size - 1) // args.batch_size
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=order_rng)
        for batch_idx in range(batches):
            idx = order[batch_idx * args.batch_size:(batch_idx + 1) * args.batch_size]
            data, target = xtr[idx], ytr[idx]
            opt.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            opt.step()
            if batch_idx % 100 == 0:
                print("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                    epoch, batch_idx * len(data), n, 100.0 * batch_idx / batches, loss.item()), file=sys.stderr)
        loss, correct, total = evaluate(model, xte, yte, args.test_batch_size)
        print(test_line(loss, correct, total), flush=True)

    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.out + ".tmp"
    save_file(state, tmp, metadata={"format": "pt"})
    os.replace(tmp, args.out)
    print(f"saved {args.out} ({len(state)} tensors)", file=sys.stderr)


if __name__ == "__main__":
    main()
