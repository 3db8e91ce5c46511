#!/usr/bin/python3
"""Evaluates a cnntrain checkpoint in PyTorch, with the notebook's classes.

    cnntrain train --model cnn --dataset mnist --run-dir runs/x
    /usr/bin/python3 scripts/parity/torch_eval.py --checkpoint runs/x --data .data
    /usr/bin/python3 scripts/parity/torch_eval.py --checkpoint runs/x --data .data --json

--checkpoint is a cnntrain run folder (model.safetensors + checkpoint.json), its
checkpoint.json, or a .safetensors file: one with checkpoint.json beside it is
read as part of that run; a bare one (saved from PyTorch, say) is taken as
--model (default cnn) with the default --hidden/--features and the dataset's
default normalization.

The weights are loaded into FC2Layer(784, hidden, 10) or CNN(784, features, 10)
with load_state_dict(strict=True), so any name or shape that differs from
PyTorch's is an error. The test set (DATA/<dataset>/t10k-*-ubyte.gz, normalized
with the run's mean/std) is evaluated in eval mode in batches of 1000 and the
notebook's line is printed:

    Test set: Average loss: 0.1490, Accuracy: 9542/10000 (95%)

where the loss is the summed NLL over the test set divided by its size. With
--json that line goes to stderr and stdout gets one JSON object:
{"correct", "total", "loss", "accuracy" (percent), "model", "dataset", "checkpoint"}.

A run trained with --shuffle-pixels is refused: its pixel permutation comes
from cnntrain's Go random generator, which this script does not reproduce.
Use `cnntrain eval` for those.

Needs only Debian's python3-torch.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_io  # noqa: E402
from notebook_models import CNN, FC2Layer  # noqa: E402
from safetensors_io import load_file  # noqa: E402

RUN_FORMAT = "cnntrain-run/1"
INFO_FILE = "checkpoint.json"
MNIST_INPUT = {"C": 1, "H": 28, "W": 28, "Classes": 10}


def fail(msg):
    print(f"torch_eval.py: {msg}", file=sys.stderr)
    sys.exit(1)


def resolve(args):
    """Returns (weights path, config dict, (mean, std) or None)."""
    path = args.checkpoint
    if not os.path.exists(path):
        fail(f"{path}: no such file or folder")
    info_path = None
    if os.path.isdir(path):
        info_path = os.path.join(path, INFO_FILE)
        if not os.path.exists(info_path):
            fail(f"{path} is a folder without {INFO_FILE}: not a cnntrain run folder")
    elif path.lower().endswith(".json"):
        info_path = path
    else:
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), INFO_FILE)
        if os.path.exists(beside):
            info_path = beside

    if info_path is None:  # a bare state_dict
        cfg = {"model": args.model or "cnn", "dataset": args.dataset or "mnist",
               "hidden": args.hidden, "features": args.features, "shuffle_pixels": False}
        return path, cfg, None

    try:
        with open(info_path) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{info_path}: {e}")
    if "format" in info and info["format"] != RUN_FORMAT:
        fail(f"{info_path}: format {info['format']!r}, want {RUN_FORMAT!r}")
    cfg = info.get("config")
    if not isinstance(cfg, dict) or "model" not in cfg:
        fail(f"{info_path}: no config.model")
    cfg = dict(cfg)
    cfg.setdefault("dataset", "mnist")
    if cfg["model"] not in ("mlp", "cnn") or cfg["dataset"] not in mnist_io.DEFAULT_NORMALIZE:
        fail(f"{info_path}: model {cfg['model']!r} on {cfg['dataset']!r}; torch_eval.py evaluates the MNIST "
             f"notebook's mlp and cnn on mnist or fashion-mnist only")
    for flag, key in (("model", "model"), ("dataset", "dataset")):
        given = getattr(args, flag)
        if given and given != cfg[key]:
            fail(f"--{flag} {given} disagrees with {info_path}, which says {key} {cfg[key]!r}")
    if args.hidden or args.features:
        fail(f"--hidden and --features are for bare .safetensors files; {info_path} describes its own model")
    if cfg.get("shuffle_pixels"):
        fail(f"{info_path}: this run was trained with --shuffle-pixels (permutation_seed "
             f"{cfg.get('permutation_seed', 0)}); the permutation comes from cnntrain's Go random number "
             f"generator, which torch_eval.py does not reproduce. Evaluate it with "
             f"`cnntrain eval --checkpoint {args.checkpoint}` instead.")
    inp = info.get("input")
    if inp is not None and {k: inp.get(k) for k in MNIST_INPUT} != MNIST_INPUT:
        fail(f"{info_path}: input {inp}; the notebook classes here take 1x28x28 images in 10 classes")
    norm = info.get("normalize") or {}
    mean_std = (norm["mean"], norm["std"]) if norm.get("mean") and norm.get("std") else None
    if path.lower().endswith(".safetensors"):
        weights = path
    else:
        weights = os.path.join(os.path.dirname(os.path.abspath(info_path)), info.get("weights") or "model.safetensors")
    return weights, cfg, mean_std


def build(cfg):
    model = cfg["model"]
    if model == "mlp":
        return FC2Layer(784, cfg.get("hidden") or 8, 10)
    if model == "cnn":
        return CNN(784, cfg.get("features") or 6, 10)
    fail(f"model {model!r}: torch_eval.py knows mlp and cnn")


def evaluate(model, x, y, batch_size=1000):
    """The notebook's test(): summed NLL / N and the number of correct argmaxes."""
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            out = model(x[i:i + batch_size])
            loss += F.nll_loss(out, y[i:i + batch_size], reduction="sum").item()
            correct += int((out.argmax(1) == y[i:i + batch_size]).sum())
    return loss / len(y), correct, len(y)


def test_line(loss, correct, total):
    return "Test set: Average loss: %.4f, Accuracy: %d/%d (%.0f%%)" % (loss, correct, total, 100.0 * correct / total)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="run folder, checkpoint.json or .safetensors file")
    ap.add_argument("--data", default=os.environ.get("CNNTRAIN_DATA", "data"), help="data folder (DATA/mnist/...)")
    ap.add_argument("--model", choices=["cnn", "mlp"], help="bare .safetensors: which model (default cnn)")
    ap.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="bare .safetensors: dataset (default mnist)")
    ap.add_argument("--hidden", type=int, default=0, help="bare .safetensors: mlp hidden width (default 8)")
    ap.add_argument("--features", type=int, default=0, help="bare .safetensors: cnn feature maps (default 6)")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args()

    weights, cfg, mean_std = resolve(args)
    model = build(cfg)
    try:
        tensors, _ = load_file(weights)
    except (OSError, ValueError) as e:
        fail(f"{weights}: {e}")
    state = {k: (v.to(torch.float32) if v.is_floating_point() else v) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fail(f"{weights} does not fit {type(model).__name__} ({cfg['model']}): {e}")

    mean, std = mean_std if mean_std else (None, None)
    try:
        x, y = mnist_io.load(args.data, "test", cfg["dataset"], mean, std)
    except (OSError, ValueError) as e:
        fail(str(e))
    loss, correct, total = evaluate(model, x, y, args.batch_size)
    line = test_line(loss, correct, total)
    if args.json:
        print(line, file=sys.stderr)
        print(json.dumps({"correct": correct, "total": total, "loss": loss, "accuracy": 100.0 * correct / total,
                          "model": cfg["model"], "dataset": cfg["dataset"], "checkpoint": args.checkpoint}))
    else:
        print(line)


if __name__ == "__main__":
    main()
