#!/usr/bin/env bash
# gpu-check: the CUDA backend's checks on a machine with an NVIDIA GPU, CUDA's driver and PyTorch,
# without Go or network. Needs only what `make gpu-bundle` put in gpu/ (git-ignored): the cnntrain
# binary, the CUDA test binary, and a CIFAR-10 subset (10,000 training and 2,000 test images).
# Prints the GPU, `cnntrain devices`, the conformance checks, then trains vgg16 (batch 128) and the
# LeNet (batch 64) for one epoch of the subset with cnntrain and with PyTorch on the same GPU, strict
# FP32 then TF32 for both, and ends with one table. Results also go to $OUT (or gpu/out).
#
#   make gpu-bundle          # here, with Go and the data (make data)
#   scripts/gpu-check.sh     # there
#
# A run of cnntrain that fails (but not by timeout) is retried with --no-cuda-graphs, then
# --no-cudnn, then both, so one bug there does not cost the speed figures (the table says which); the LeNet also runs without graphs, to measure what they gain,
# and vgg16 without cuDNN (--no-cudnn: im2col and cuBLAS), to compare the two convolutions.
# Knobs for a dry run on the GPU emulator (make emulator; CNNTRAIN_CUDA_LIBS=$PWD/.emulator):
# SUBSET (training images, default 10000), MODELS (default "vgg16 cnn"), CONFORMANCE (the test
# binary's -test.run pattern).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu/out}
subset=${SUBSET:-10000}
models=${MODELS:-vgg16 cnn}
conformance=${CONFORMANCE:-TestConformance|TestOpsAgainstCPU}
mkdir -p "$out" gpu/data/cifar-10-batches-bin
step() { echo; echo "== $*"; }

step unpacking
for f in gpu/*.xz; do [ -f "${f%.xz}" ] || xz -dk "$f"; done
chmod +x gpu/cnntrain gpu/cuda.test
d=gpu/data/cifar-10-batches-bin
# cnntrain reads the official layout: five training batches and a test batch of 10,000 records
# each. The subset fills them: the first batch holds the 10,000 training images (the runs use
# --train-subset 10000, so the copies are never read), the test batch is the 2,000 test images
# five times over (the same accuracy as on the 2,000).
cp gpu/cifar-train-10k.bin "$d/data_batch_1.bin"
for i in 2 3 4 5; do cp gpu/cifar-train-10k.bin "$d/data_batch_$i.bin"; done
cat gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin >"$d/test_batch.bin"
printf '%s\n' airplane automobile bird cat deer dog frog horse ship truck >"$d/batches.meta.txt"

# PyTorch's wheels hold cuBLAS and cuDNN; point cnntrain at them too.
libs=$(python3 -c 'import glob, os, site
dirs = site.getsitepackages() + [site.getusersitepackages()]
print(":".join(sorted(p for d in dirs for p in glob.glob(os.path.join(d, "nvidia", "*", "lib")))))' 2>/dev/null)
export CNNTRAIN_CUDA_LIBS=${CNNTRAIN_CUDA_LIBS:-$libs}

step GPU
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || true
step cnntrain devices
gpu/cnntrain devices | tee "$out/devices.txt"

step conformance: the parity suite and every op against the CPU
timeout 240 gpu/cuda.test -test.v -test.run "$conformance" >"$out/conformance.txt" 2>&1
conf_rc=$?
grep -E '^(--- |ok|FAIL|PASS)|max rel err|panic' "$out/conformance.txt" | grep -v '^    --- PASS' | tail -80

run_cnntrain() { # model batch tf32 [variant: graphs (default), nographs or nocudnn] → JSON line
  local model=$1 batch=$2 tf32=$3 variant=${4:-graphs} name=$1-$3 rc extra=()
  case $variant in
    nographs) name=$name-nographs; extra=(--no-cuda-graphs) ;;
    nocudnn) name=$name-nocudnn; extra=(--no-cudnn) ;;
  esac
  train_once() {
    rm -rf "$out/run-$name"
    timeout 150 gpu/cnntrain train --model "$model" --dataset cifar10 --data-dir gpu/data --no-download \
      --epochs 1 --train-subset "$subset" --batch-size "$batch" --device cuda --tf32="$tf32" "$@" \
      --run-dir "$out/run-$name" --json >"$out/cnntrain-$name.json" 2>"$out/cnntrain-$name.log"
  }
  # A failure (not a timeout) is retried without what is new on a GPU, one thing at a time, so one
  # bug does not cost the figures; the flags that worked go in the table.
  local fallback flags tried=" "
  for fallback in "" "--no-cuda-graphs" "--no-cudnn" "--no-cuda-graphs --no-cudnn"; do
    # shellcheck disable=SC2086 # the flags are words
    flags=$(printf '%s\n' ${extra[@]+"${extra[@]}"} $fallback | sort -u | tr '\n' ' ')
    case $tried in *"|$flags|"*) continue ;; esac
    tried="$tried|$flags|"
    # shellcheck disable=SC2086
    train_once $flags
    rc=$?
    echo "$fallback" >"$out/cnntrain-$name.flags" # what the run needed beyond its own flags
    { [ $rc -eq 0 ] || [ $rc -eq 124 ]; } && break
    echo "cnntrain $model tf32=$tf32 $flags: exit $rc"; tail -3 "$out/cnntrain-$name.log"
    cp "$out/cnntrain-$name.log" "$out/cnntrain-$name-failed-${flags// /}.log"
  done
  echo "cnntrain $model tf32=$tf32 $variant: exit $rc"; tail -3 "$out/cnntrain-$name.log"
}
run_torch() {
  local model=$1 tf32=$2 flag=
  [ "$tf32" = true ] && flag=--tf32
  timeout 150 python3 scripts/reference/gpu_torch.py --data gpu/data --model "$model" --train "$subset" $flag \
    >"$out/torch-$model-$tf32.json" 2>"$out/torch-$model-$tf32.log"
  echo "pytorch $model tf32=$tf32: exit $?"; tail -2 "$out/torch-$model-$tf32.log"
}
for tf32 in false true; do
  step "one epoch, tf32=$tf32"
  case " $models " in *" vgg16 "*) run_cnntrain vgg16 128 $tf32; run_torch vgg16 $tf32 ;; esac
  case " $models " in *" cnn "*) run_cnntrain cnn 64 $tf32; run_torch lenet $tf32 ;; esac
done
case " $models " in *" cnn "*) step "LeNet without CUDA graphs"; run_cnntrain cnn 64 false nographs ;; esac
case " $models " in *" vgg16 "*) step "vgg16 without cuDNN (im2col and cuBLAS)"; run_cnntrain vgg16 128 false nocudnn ;; esac

step summary
python3 - "$out" "$conf_rc" <<'PY'
import json, re, sys
out, conf_rc = sys.argv[1], int(sys.argv[2])
def load(path):
    try:
        return json.load(open(path))
    except Exception:
        try:
            return json.loads(open(path).read().strip().splitlines()[-1])
        except Exception:
            return None
# The op reports of the three TestOpsAgainstCPU tests, apart: each line follows its test's RUN line.
labels = {"TestOpsAgainstCPU": "strict FP32, cuDNN", "TestOpsAgainstCPUWithoutCuDNN": "strict FP32, im2col",
          "TestOpsAgainstCPUWithTF32": "TF32"}
worst, test = {}, None
for line in open(f"{out}/conformance.txt", errors="replace"):
    r = re.match(r"=== RUN\s+(\w+)\s*$", line)
    if r:
        test = r.group(1)
    m = re.search(r"(\w+)\s+(\S+)\s+\((.*?)\)\s+max rel err (\S+)", line)
    if m and test in labels:
        op = m.group(2).split("(")[0]
        w = worst.setdefault(labels[test], {})
        w[op] = max(w.get(op, 0.0), float(m.group(4)))
print(f"conformance: {'PASS' if conf_rc == 0 else 'FAIL (exit %d)' % conf_rc}")
print("largest relative error per op against the CPU:")
for label in labels.values():
    print(f"  {label}:", ", ".join(f"{k} {v:.1e}" for k, v in sorted(worst.get(label, {}).items())) or "none measured")
print(f"\n| model | math | cnntrain img/s | PyTorch img/s | ratio | cnntrain acc | PyTorch acc |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for tf32, ours, theirs, note in (("false", "vgg16-false", "vgg16", ""), ("false", "cnn-false", "lenet", ""),
                                  ("false", "cnn-false-nographs", "lenet", ", no graphs"),
                                  ("false", "vgg16-false-nocudnn", "vgg16", ", no cuDNN"),
                                  ("true", "vgg16-true", "vgg16", ""), ("true", "cnn-true", "lenet", "")):
        c, t = load(f"{out}/cnntrain-{ours}.json"), load(f"{out}/torch-{theirs}-{tf32}.json")
        ci = c and c.get("train_images_per_second"); ti = t and t.get("images_per_second")
        ca = c and c.get("metrics") and 100 * c["metrics"]["correct"] / c["metrics"]["total"]
        ta = t and t.get("accuracy")
        f = lambda v, p: "n/a" if v is None else f"{v:.{p}f}"
        ratio = f"{ci / ti:.2f}x" if ci and ti else "n/a"
        try:
            flags = " ".join(open(f"{out}/cnntrain-{ours}.flags").read().split())
        except OSError:
            flags = ""
        used = f" ({flags})" if flags and c else ""
        print(f"| {theirs} | {'TF32' if tf32 == 'true' else 'FP32'}{note}{used} | {f(ci, 0)} | {f(ti, 0)} | {ratio} | {f(ca, 2)} % | {f(ta, 2)} % |")
# What a run did in a slower way than its device line says (train's "note:" lines), once each.
import glob
notes = sorted({line.strip() for log in glob.glob(f"{out}/cnntrain-*.log") for line in open(log, errors="replace")
                if line.startswith("note:")})
for line in notes:
    print(line)
PY
