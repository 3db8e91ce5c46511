#!/usr/bin/python3
"""Writes the PyTorch parity fixtures, testdata/parity/*.safetensors.

    /usr/bin/python3 scripts/parity/make_fixtures.py            # every case
    /usr/bin/python3 scripts/parity/make_fixtures.py conv2d relu # only these

Each fixture is one layer or one notebook model run through PyTorch in float32
on the CPU, with a fixed seed per case, one thread and deterministic
algorithms: rerunning on the same machine and torch version gives the same
bytes. scripts/parity/README.md describes every key; the Go tests read them.
Needs only Debian's python3-torch (no torchvision, no safetensors package).
"""
import copy
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from notebook_models import CNN, FC2Layer, LeNet, VGG, VGG_CFG  # noqa: E402
from safetensors_io import save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "testdata", "parity")

SGD = {"lr": 0.01, "momentum": 0.5, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False, "steps": 2}
ADAM = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "steps": 3}


def js(v):
    return json.dumps(v)


def write(case, kind, tensors, meta):
    for k, t in tensors.items():
        if t.is_floating_point():
            assert t.dtype == torch.float32, (case, k, t.dtype)
            if not torch.isfinite(t).all():
                raise SystemExit(f"{case}: {k} is not finite; refusing to write the fixture")
    metadata = {"case": case, "kind": kind, "torch_version": torch.__version__}
    metadata.update({k: str(v) for k, v in meta.items()})
    path = os.path.join(OUT, case + ".safetensors")
    save_file({k: t.detach().contiguous() for k, t in tensors.items()}, path, metadata)
    return path


def maxabs(t):
    return float(t.detach().abs().max()) if t.numel() else 0.0


# ---------------------------------------------------------------- layer cases

def init_params(module):
    """Non-default parameter values: randn*0.5, or for BatchNorm values near its
    defaults with buffers that are not (so running stats matter)."""
    with torch.no_grad():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.copy_(1 + 0.1 * torch.randn_like(module.weight))
            module.bias.copy_(0.1 * torch.randn_like(module.bias))
            module.running_mean.copy_(0.1 * torch.randn_like(module.running_mean))
            module.running_var.copy_(1 + 0.1 * torch.rand_like(module.running_var))
            module.num_batches_tracked.fill_(5)
        else:
            for _, p in module.named_parameters():
                p.copy_(0.5 * torch.randn_like(p))


def layer_case(case, seed, module_fn, input_fn, forward=None, meta=None, after_buffers=False):
    """Runs module (built by module_fn, or None for a parameter-free function) on
    input_fn() and records output and the gradients of (output*grad_output).sum()."""
    torch.manual_seed(seed)
    module = module_fn()
    init_params(module)
    x = input_fn()
    tensors = {"input": x.clone()}
    for name, t in module.state_dict().items():
        tensors[name] = t.clone()
    x = x.clone().requires_grad_(True)
    out = module(x) if forward is None else forward(module, x)
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    tensors["output"] = out.detach().clone()
    tensors["grad_output"] = grad_out
    tensors["grad.input"] = x.grad.clone()
    for name, p in module.named_parameters():
        tensors["grad." + name] = p.grad.clone()
    if after_buffers:
        for name, b in module.named_buffers():
            tensors["after." + name] = b.clone()
    m = {"seed": seed, "module": repr(module), "input_shape": js(list(x.shape))}
    m.update(meta or {})
    write(case, "layer", tensors, m)
    return maxabs(out), maxabs(x.grad)


def loss_case(case, seed, make_input, loss):
    """A loss: "input" (log-probabilities or scores), "target", the mean loss as
    "output" (shape []), "grad_output" = 1.0 (shape []), and "grad.input"."""
    torch.manual_seed(seed)
    x = make_input()
    target = torch.randint(0, x.shape[1], (x.shape[0],), dtype=torch.int64)
    x = x.detach().clone().requires_grad_(True)
    out = loss(x, target)
    grad_out = torch.ones(())
    (out * grad_out).sum().backward()
    tensors = {"input": x.detach().clone(), "target": target, "output": out.detach().clone(),
               "grad_output": grad_out, "grad.input": x.grad.clone()}
    write(case, "layer", tensors, {"seed": seed, "input_shape": js(list(x.shape)), "reduction": "mean",
                                   "function": loss.__name__})
    return maxabs(out), maxabs(x.grad)


def relu_input():
    x = torch.randn(3, 4, 5)
    x.view(-1)[::7] = 0.0  # exact zeros: ReLU's gradient there is 0 in PyTorch
    return x


def case_linear():
    return layer_case("linear", 101, lambda: nn.Linear(7, 5), lambda: torch.randn(4, 7),
                      meta={"in_features": 7, "out_features": 5})


def case_linear_flatten():
    return layer_case("linear_flatten", 102, lambda: nn.Linear(2 * 3 * 3, 4), lambda: torch.randn(4, 2, 3, 3),
                      forward=lambda m, x: m(x.view(-1, 18)),
                      meta={"in_features": 18, "out_features": 4, "flatten": "x.view(-1, 18)"})


def case_conv2d():
    return layer_case("conv2d", 103, lambda: nn.Conv2d(3, 4, 5), lambda: torch.randn(2, 3, 9, 8),
                      meta={"in_channels": 3, "out_channels": 4, "kernel_size": 5, "padding": 0, "stride": 1})


def case_conv2d_pad():
    return layer_case("conv2d_pad", 104, lambda: nn.Conv2d(3, 5, 3, padding=1), lambda: torch.randn(2, 3, 6, 7),
                      meta={"in_channels": 3, "out_channels": 5, "kernel_size": 3, "padding": 1, "stride": 1})


def case_maxpool2d():
    return layer_case("maxpool2d", 105, lambda: nn.MaxPool2d(2), lambda: torch.randn(2, 3, 7, 6),
                      meta={"kernel_size": 2, "stride": 2, "padding": 0, "ceil_mode": "false"})


def case_relu():
    return layer_case("relu", 106, lambda: nn.ReLU(), relu_input)


def case_logsoftmax():
    return layer_case("logsoftmax", 107, lambda: nn.LogSoftmax(dim=1), lambda: torch.randn(5, 10),
                      meta={"dim": 1})


def case_nll_loss():
    return loss_case("nll_loss", 108, lambda: F.log_softmax(torch.randn(6, 10), dim=1), F.nll_loss)


def case_cross_entropy():
    return loss_case("cross_entropy", 109, lambda: torch.randn(6, 10), F.cross_entropy)


def bn_case(case, seed, train):
    def build():
        m = nn.BatchNorm2d(4)
        m.train(train)
        return m
    return layer_case(case, seed, build, lambda: torch.randn(3, 4, 5, 5) * 2 + 1, after_buffers=True,
                      meta={"num_features": 4, "eps": "1e-05", "momentum": "0.1", "mode": "train" if train else "eval"})


def case_batchnorm2d_train():
    return bn_case("batchnorm2d_train", 110, True)


def case_batchnorm2d_eval():
    return bn_case("batchnorm2d_eval", 111, False)


# ---------------------------------------------------------------- model cases

def model_case(case, seed, build, input_shape, loss_name, meta):
    loss_fn = F.nll_loss if loss_name == "nll" else F.cross_entropy
    torch.manual_seed(seed)
    model = build()  # PyTorch's default init, drawn from this seed
    x = torch.randn(*input_shape)
    target = torch.randint(0, 10, (input_shape[0],), dtype=torch.int64)
    initial = copy.deepcopy(model)

    tensors = {"input": x.clone(), "target": target.clone()}
    for name, t in initial.state_dict().items():
        tensors["param." + name] = t.clone()

    ev = copy.deepcopy(initial).eval()  # original running statistics
    with torch.no_grad():
        tensors["eval_output"] = ev(x.clone())

    model.train()
    xi = x.clone().requires_grad_(True)
    out = model(xi)
    loss = loss_fn(out, target)
    if not math.isfinite(float(loss)):
        raise SystemExit(f"{case}: loss is {float(loss)}; refusing to write the fixture")
    loss.backward()
    tensors["output"] = out.detach().clone()
    tensors["loss"] = loss.detach().clone()
    tensors["grad.input"] = xi.grad.clone()
    for name, p in model.named_parameters():
        if p.requires_grad:
            tensors["grad." + name] = p.grad.clone()
    for name, b in model.named_buffers():
        tensors["after." + name] = b.clone()

    for prefix, make_opt, steps in (
        ("sgd2.", lambda ps: torch.optim.SGD(ps, lr=SGD["lr"], momentum=SGD["momentum"]), SGD["steps"]),
        ("adam3.", lambda ps: torch.optim.Adam(ps, lr=ADAM["lr"]), ADAM["steps"]),
    ):
        m = copy.deepcopy(initial)
        m.train()
        opt = make_opt(m.parameters())
        for _ in range(steps):
            opt.zero_grad()
            l = loss_fn(m(x.clone()), target)
            l.backward()
            opt.step()
        for name, t in m.state_dict().items():
            tensors[prefix + name] = t.clone()

    sd = list(initial.state_dict().keys())
    params = [n for n, p in initial.named_parameters() if p.requires_grad]
    buffers = [n for n, _ in initial.named_buffers()]
    m = {"seed": seed, "class": type(initial).__name__, "loss": loss_name, "input_shape": js(list(input_shape)),
         "state_dict": js(sd), "parameters": js(params), "buffers": js(buffers),
         "num_params": sum(p.numel() for p in initial.parameters()), "sgd": js(SGD), "adam": js(ADAM)}
    m.update(meta)
    write(case, "model", tensors, m)
    return maxabs(out), float(loss)


def case_model_mlp():
    return model_case("model_mlp", 201, lambda: FC2Layer(784, 8, 10), (4, 1, 28, 28), "nll",
                      {"model": "mlp", "hidden": 8})


def case_model_cnn():
    return model_case("model_cnn", 202, lambda: CNN(784, 6, 10), (4, 1, 28, 28), "nll",
                      {"model": "cnn", "features": 6})


def case_model_lenet():
    return model_case("model_lenet", 203, LeNet, (4, 3, 32, 32), "cross_entropy", {"model": "cnn"})


def vgg_case(name, seed):
    width = 1 / 16
    return model_case("model_" + name, seed, lambda: VGG(VGG_CFG[name], width), (4, 3, 32, 32), "cross_entropy",
                      {"model": name, "width": "0.0625", "cfg": js(VGG_CFG[name])})


def case_model_vgg11():
    return vgg_case("vgg11", 204)


def case_model_vgg16():
    return vgg_case("vgg16", 205)


# ------------------------------------------------------------ optimizer cases

def optimizer_case(case, seed, make_opt, meta):
    """An update rule alone, free of any model: a parameter "param" (randn, a few
    values near zero too), a fixed sequence of gradients "grad.1".."grad.3"
    (randn, scaled over four orders of magnitude so Adam's normalization
    shows), and PyTorch's parameter after each step, "step.1".."step.3"."""
    torch.manual_seed(seed)
    p0 = torch.randn(64)
    p0[:4] = torch.tensor([0.0, 1e-6, -1e-6, 1.0])
    p = torch.nn.Parameter(p0.clone())
    opt = make_opt([p])
    scale = torch.logspace(-4, 0, 64)
    tensors = {"param": p0}
    for step in (1, 2, 3):
        g = torch.randn(64) * scale
        tensors[f"grad.{step}"] = g
        p.grad = g.clone()
        opt.step()
        tensors[f"step.{step}"] = p.detach().clone()
    write(case, "optimizer", tensors, dict(meta, seed=seed, input_shape=js([64])))
    return maxabs(tensors["step.3"]), maxabs(tensors["grad.1"])


def case_sgd_rule():
    settings = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}
    return optimizer_case("sgd_rule", 31, lambda ps: torch.optim.SGD(ps, **settings), {"optimizer": "sgd", "settings": js(settings)})


def case_adam_rule():
    settings = {"lr": 0.01, "weight_decay": 0.01}
    return optimizer_case("adam_rule", 32, lambda ps: torch.optim.Adam(ps, **settings), {"optimizer": "adam", "settings": js(settings)})


CASES = {
    "sgd_rule": case_sgd_rule,
    "adam_rule": case_adam_rule,
    "linear": case_linear,
    "linear_flatten": case_linear_flatten,
    "conv2d": case_conv2d,
    "conv2d_pad": case_conv2d_pad,
    "maxpool2d": case_maxpool2d,
    "relu": case_relu,
    "logsoftmax": case_logsoftmax,
    "nll_loss": case_nll_loss,
    "cross_entropy": case_cross_entropy,
    "batchnorm2d_train": case_batchnorm2d_train,
    "batchnorm2d_eval": case_batchnorm2d_eval,
    "model_mlp": case_model_mlp,
    "model_cnn": case_model_cnn,
    "model_lenet": case_model_lenet,
    "model_vgg11": case_model_vgg11,
    "model_vgg16": case_model_vgg16,
}


def main():
    names = sys.argv[1:] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        a, b = CASES[name]()
        size = os.path.getsize(os.path.join(OUT, name + ".safetensors"))
        second = f"loss {b:.6f}" if name.startswith("model_") else f"max|grad.input| {b:.4g}"
        print(f"{name:20s} {size:9d} bytes  max|output| {a:.4g}  {second}")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    stale = sorted(f for f in os.listdir(OUT) if f.endswith(".safetensors") and f[:-12] not in CASES)
    if stale:
        print("not written by this script (stale?):", ", ".join(stale))
    print(f"total size of {os.path.relpath(OUT, ROOT)}: {total} bytes ({total / 2**20:.2f} MiB)")
    if total > 5 * 2**20:
        raise SystemExit("fixtures exceed 5 MB")


if __name__ == "__main__":
    main()
