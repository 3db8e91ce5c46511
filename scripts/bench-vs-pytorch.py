#!/usr/bin/python3
"""cnntrain against PyTorch on the same cores: training images/s and the matrix product.

Run through scripts/bench-vs-pytorch, which builds the Go test binaries first. This file is
both the driver (stdlib only: it never imports torch itself) and, with `torch-*` commands, the
PyTorch side, which the driver runs in a child process with PyTorch's environment:
torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1 (2 for the two-thread torch.mm), and
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed so that OpenBLAS picks its kernels for this CPU.

    scripts/bench-vs-pytorch.py train --train-test BIN [--rounds 5] [--seconds 2] [--models RE]
    scripts/bench-vs-pytorch.py eval --train-test BIN [--rounds 5] [--seconds 2] [--models RE]
    scripts/bench-vs-pytorch.py gemm --sgemm-test BIN [--rounds 5]
    scripts/bench-vs-pytorch.py torch-check | torch-train|torch-eval NAME SECONDS THREADS | torch-gemm THREADS SECONDS

`eval` times evaluation instead of training (BenchmarkEvalStep: forward and loss in eval mode, the
logits copied out, at the notebooks' test batch sizes; PyTorch: model.eval() under torch.no_grad()).

The rounds interleave: in each round every model runs once in cnntrain and in PyTorch with 2 and
with 1 thread, each going first in turn. Output: per model the median (and range) images/s of each
and the median (and range) of the per-round ratios cnntrain / PyTorch with 2 threads, and cnntrain /
the better of PyTorch's two. OMP_WAIT_POLICY=PASSIVE by default: PyTorch's OpenMP threads otherwise
spin in barriers, and on a machine where anything else runs a two-thread PyTorch step then takes
10–30 times as long (measured: LeNet 8,800 images/s on 1 thread, 510 on 2; 5,500 on 2 with PASSIVE).
"""
import argparse, os, re, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.environ.get("PYTHON_TORCH", "/usr/bin/python3")

# BenchmarkTrainStep's cases (internal/train/bench_test.go): name, batch, full VGG (few steps).
MODELS = [
    ("mnist-mlp", 64, False),
    ("mnist-cnn", 64, False),
    ("cifar10-lenet", 64, False),
    ("cifar10-vgg11-width0.25", 128, False),
    ("cifar10-vgg11", 128, True),
    ("cifar10-vgg16", 128, True),
]
# BenchmarkEvalStep's cases: the notebooks' test batch sizes.
EVAL_MODELS = [
    ("mnist-mlp", 1000, False),
    ("mnist-cnn", 1000, False),
    ("cifar10-lenet", 8, False),
    ("cifar10-vgg11-width0.25", 128, False),
    ("cifar10-vgg11", 128, True),
    ("cifar10-vgg16", 128, True),
]
# BenchmarkGemm's shapes (internal/sgemm/sgemm_test.go), m×n×k.
GEMM_SHAPES = [(6, 784, 75), (16, 400, 150), (16, 1024, 27), (64, 1024, 576), (128, 256, 1152), (512, 64, 4608)]
MIN_MM_GFLOPS = 15.0  # OpenBLAS does tens of GFLOP/s on 512×512 here, the reference BLAS ~6


OMP_WAIT_POLICY = "PASSIVE"


def torch_env(openblas_threads=1):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = str(openblas_threads)
    if OMP_WAIT_POLICY:
        env["OMP_WAIT_POLICY"] = OMP_WAIT_POLICY
    return env


# ---- the PyTorch side (child processes) ----

def torch_model(name):
    import torch
    sys.path.insert(0, os.path.join(HERE, "parity"))
    from notebook_models import CNN, VGG, VGG_CFG, FC2Layer, LeNet
    torch.manual_seed(1)
    if name == "mnist-mlp":
        return FC2Layer(784, 8, 10), (1, 28, 28), "nll"
    if name == "mnist-cnn":
        return CNN(784, 6, 10), (1, 28, 28), "nll"
    if name == "cifar10-lenet":
        return LeNet(), (3, 32, 32), "ce"
    if name == "cifar10-vgg11-width0.25":
        return VGG(VGG_CFG["vgg11"], 0.25), (3, 32, 32), "ce"
    if name in ("cifar10-vgg11", "cifar10-vgg16"):
        return VGG(VGG_CFG[name.split("-")[1]]), (3, 32, 32), "ce"
    raise SystemExit(f"unknown model {name}")


def torch_train(name, seconds, threads):
    """images/s of training steps as BenchmarkTrainStep times them: random batch, forward,
    loss, backward, SGD(lr 0.01, momentum 0.5); at least two steps after one warm-up."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    model, shape, loss = torch_model(name)
    batch = dict((m, b) for m, b, _ in MODELS)[name]
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn((batch,) + shape, generator=g), torch.randint(0, 10, (batch,), generator=g)
    lossf = F.nll_loss if loss == "nll" else F.cross_entropy

    def step():
        opt.zero_grad()
        lossf(model(x), y).backward()
        opt.step()

    print(f"{timed(step, batch, seconds):.3f}")


def torch_eval(name, seconds, threads):
    """images/s of test batches as BenchmarkEvalStep times them: model.eval(), no gradients,
    forward, loss and the predictions."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    model, shape, loss = torch_model(name)
    batch = dict((m, b) for m, b, _ in EVAL_MODELS)[name]
    model.eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn((batch,) + shape, generator=g), torch.randint(0, 10, (batch,), generator=g)
    lossf = F.nll_loss if loss == "nll" else F.cross_entropy

    def step():
        with torch.no_grad():
            out = model(x)
            lossf(out, y, reduction="sum").item()
            out.argmax(1)

    print(f"{timed(step, batch, seconds):.3f}")


def timed(step, batch, seconds):
    """images/s of step: one warm-up, then at least two steps and the given seconds."""
    step()
    steps, start = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return batch * steps / (time.perf_counter() - start)


def mm_gflops(torch, m, n, k, seconds):
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.mm(a, b)
    reps, start = 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - start < seconds:
        torch.mm(a, b)
        reps += 1
    return 2 * m * n * k * reps / (time.perf_counter() - start) / 1e9


def torch_check():
    import torch
    torch.set_num_threads(2)
    best = max(mm_gflops(torch, 512, 512, 512, 0.3) for _ in range(3))
    blas = "?"
    with open("/proc/self/maps") as f:  # which libblas.so.3 the alternative resolved to
        libs = {line.split()[-1] for line in f if "libblas" in line or "libopenblas" in line}
    if libs:
        blas = ", ".join(sorted(os.path.realpath(l) for l in libs))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS {blas}, "
          f"torch.mm 512x512x512: {best:.1f} GFLOP/s")
    if best < MIN_MM_GFLOPS:
        print(f"torch.mm runs at {best:.1f} GFLOP/s, below OpenBLAS speed ({MIN_MM_GFLOPS:.0f}): is "
              "libopenblas0-pthread installed and the libblas.so.3 alternative pointing at it? "
              "(update-alternatives --display libblas.so.3-x86_64-linux-gnu)", file=sys.stderr)
        sys.exit(1)


def torch_gemm(threads, seconds):
    import torch
    torch.set_num_threads(threads)
    for m, n, k in GEMM_SHAPES:
        print(f"{m}x{n}x{k} {mm_gflops(torch, m, n, k, seconds):.3f}")


# ---- the driver ----

def run(cmd, env=None):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
    return p.stdout


def go_metric(out, name, unit):
    m = re.search(r"^Benchmark\S*?/" + re.escape(name) + r"(-\d+)?\s.*?([\d.]+) " + unit, out, re.M)
    if not m:
        sys.exit(f"no {unit} for {name} in:\n{out}")
    return float(m.group(2))


def fmt(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def summary(xs):
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def ratio(xs):
    return f"{statistics.median(xs):.2f}× ({min(xs):.2f}–{max(xs):.2f})"


def check_torch():
    out = run([PYTHON, __file__, "torch-check"], env=torch_env())
    print(out.strip())


def cmd_train(args):
    global OMP_WAIT_POLICY
    OMP_WAIT_POLICY = args.omp_wait_policy
    check_torch()
    bench, torch_cmd, table = "BenchmarkTrainStep", "torch-train", MODELS
    if args.cmd == "eval":
        bench, torch_cmd, table = "BenchmarkEvalStep", "torch-eval", EVAL_MODELS
    models = [m for m in table if re.search(args.models, m[0])]
    res = {name: {"go": [], "pt2": [], "pt1": []} for name, _, _ in models}
    for r in range(args.rounds):
        for name, _, full in models:
            if full and r >= args.full_rounds:
                continue
            bt = f"{args.full_steps}x" if full else f"{args.seconds}s"
            secs = 0 if full else args.seconds
            runs = {
                "go": lambda: go_metric(run([args.train_test, "-test.run", "^$", "-test.bench",
                                             f"^{bench}$/^{re.escape(name)}$", "-test.benchtime", bt]),
                                        name, "images/s"),
                "pt2": lambda: float(run([PYTHON, __file__, torch_cmd, name, str(secs), "2"], env=torch_env())),
                "pt1": lambda: float(run([PYTHON, __file__, torch_cmd, name, str(secs), "1"], env=torch_env())),
            }
            order = ["go", "pt2", "pt1"]
            order = order[r % 3:] + order[:r % 3]  # each side goes first in turn
            for k in order:
                res[name][k].append(runs[k]())
            g, p2, p1 = (res[name][k][-1] for k in ("go", "pt2", "pt1"))
            print(f"round {r + 1}: {name:24s} cnntrain {fmt(g):>8s}  PyTorch 2 threads {fmt(p2):>8s} ({g / p2:.2f}×)"
                  f"  1 thread {fmt(p1):>8s}", file=sys.stderr, flush=True)
    print()
    print(f"{'Evaluation' if args.cmd == 'eval' else 'Training'}; PyTorch: torch.set_num_threads(2) (and 1), "
          f"OPENBLAS_NUM_THREADS=1, OMP_WAIT_POLICY={OMP_WAIT_POLICY or '(unset)'}; images/s median (range)")
    print()
    print("| model (batch) | cnntrain | PyTorch, 2 threads | cnntrain / PyTorch 2 threads | "
          "PyTorch, 1 thread | cnntrain / PyTorch's better | rounds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, batch, _ in models:
        g, p2, p1 = res[name]["go"], res[name]["pt2"], res[name]["pt1"]
        print(f"| {name} ({batch}) | {summary(g)} | {summary(p2)} | {ratio([a / b for a, b in zip(g, p2)])} | "
              f"{summary(p1)} | {ratio([a / max(b, c) for a, b, c in zip(g, p2, p1)])} | {len(g)} |")


def cmd_gemm(args):
    check_torch()
    shapes = [f"{m}x{n}x{k}" for m, n, k in GEMM_SHAPES]
    cols = ["ours-1", "ours-2", "openblas-1", "openblas-2"]
    res = {s: {c: [] for c in cols} for s in shapes}
    for r in range(args.rounds):
        out = run([args.sgemm_test, "-test.run", "^$", "-test.bench", "^BenchmarkGemm$/^selected",
                   "-test.benchtime", f"{args.seconds}s"])
        for s in shapes:
            res[s]["ours-1"].append(go_metric(out, f"selected/{s}", "GFLOP/s"))
            res[s]["ours-2"].append(go_metric(out, f"selected-2threads/{s}", "GFLOP/s"))
        for t in (1, 2):
            out = run([PYTHON, __file__, "torch-gemm", str(t), str(args.seconds)], env=torch_env(t))
            for line in out.strip().splitlines():
                s, v = line.split()
                res[s][f"openblas-{t}"].append(float(v))
        print(f"round {r + 1} done", file=sys.stderr, flush=True)
    print()
    print(f"internal/sgemm against OpenBLAS through torch.mm, GFLOP/s, median (range) of {args.rounds} rounds")
    print()
    print("| m×n×k | ours, 1 thread | OpenBLAS, 1 thread | ratio | ours, 2 threads | OpenBLAS, 2 threads | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for s in shapes:
        d = res[s]
        r1 = [a / b for a, b in zip(d["ours-1"], d["openblas-1"])]
        r2 = [a / b for a, b in zip(d["ours-2"], d["openblas-2"])]
        print(f"| {s} | {summary(d['ours-1'])} | {summary(d['openblas-1'])} | {ratio(r1)} | "
              f"{summary(d['ours-2'])} | {summary(d['openblas-2'])} | {ratio(r2)} |")


def main():
    if len(sys.argv) > 1 and sys.argv[1].startswith("torch-"):
        cmd, rest = sys.argv[1], sys.argv[2:]
        if cmd == "torch-check":
            return torch_check()
        if cmd == "torch-train":
            return torch_train(rest[0], float(rest[1]), int(rest[2]))
        if cmd == "torch-eval":
            return torch_eval(rest[0], float(rest[1]), int(rest[2]))
        if cmd == "torch-gemm":
            return torch_gemm(int(rest[0]), float(rest[1]))
        sys.exit(f"unknown command {cmd}")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for kind in ("train", "eval"):
        t = sub.add_parser(kind)
        t.add_argument("--train-test", required=True, help="go test -c -o BIN ./internal/train")
        t.add_argument("--rounds", type=int, default=5)
        t.add_argument("--seconds", type=float, default=2, help="per model and round, small models")
        t.add_argument("--full-rounds", type=int, default=1, help="rounds for the full-width VGGs")
        t.add_argument("--full-steps", type=int, default=2, help="timed steps of the full-width VGGs")
        t.add_argument("--models", default=".", help="regexp over the model names")
        t.add_argument("--omp-wait-policy", default="PASSIVE",
                       help="PyTorch's OMP_WAIT_POLICY ('' leaves it unset): with ACTIVE (libgomp's spinning) "
                            "two-thread PyTorch collapses 10-30x whenever another process holds a core")
    g = sub.add_parser("gemm")
    g.add_argument("--sgemm-test", required=True, help="go test -c -o BIN ./internal/sgemm")
    g.add_argument("--rounds", type=int, default=5)
    g.add_argument("--seconds", type=float, default=0.5)
    args = ap.parse_args()
    {"train": cmd_train, "eval": cmd_train, "gemm": cmd_gemm}[args.cmd](args)


if __name__ == "__main__":
    main()
