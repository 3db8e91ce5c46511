#!/usr/bin/env bash
# gpu-check [OUT]: the CUDA backend's checks on a machine with an NVIDIA GPU, CUDA's driver and
# PyTorch, without Go or network. Needs only what `make gpu-bundle` put in gpu/ (git-ignored): the
# cnntrain binary, the CUDA test binary, and the full CIFAR-10 as JPEGs with a converter to the
# official binary files (the one-epoch runs take a subset of it: 10,000 training, 2,000 test images).
# In order, each section's result written to OUT (default $OUT, else gpu/out) as it finishes and the
# table (OUT/summary.txt) rewritten after each, so a run cut off by its time limit still leaves what
# it measured:
#   1. a one-minute diagnostic of the libraries (diagnostics.txt): the wheel folders' contents, the
#      runpaths of libcudnn*, $LD_LIBRARY_PATH, and which CUDA libraries the loader opens for
#      `cnntrain devices` (LD_DEBUG=libs);
#   2. the GPU and `cnntrain devices`;
#   3. the conformance checks (the parity suite and every op against the CPU);
#   4. vgg16 (batch 128) and the LeNet (batch 64) for one epoch of the subset with cnntrain and with
#      PyTorch on the same GPU, strict FP32 then TF32 for both;
#   5. the notebook itself (configs/cifar10-vgg-notebook.yaml: vgg11, 10 epochs, the full CIFAR-10)
#      with cnntrain and with PyTorch, wall times and accuracies;
# and prints the table last.
#
#   make gpu-bundle          # here, with Go and the data (make data)
#   scripts/gpu-check.sh     # there
#
# A run of cnntrain that fails (but not by timeout) is retried with --no-cuda-graphs, then
# --no-cudnn, then both, so one bug there does not cost the speed figures (the table says which); the LeNet also runs without graphs, to measure what they gain,
# and vgg16 without cuDNN (--no-cudnn: im2col and cuBLAS), to compare the two convolutions.
# Knobs for a dry run on the GPU emulator (make emulator; CNNTRAIN_CUDA_LIBS=$PWD/.emulator):
# SUBSET (training images, default 10000), MODELS (default "vgg16 cnn"), CONFORMANCE (the test
# binary's -test.run pattern), NOTEBOOK (0 skips section 5), NOTEBOOK_ARGS (cnntrain flags added to
# the notebook's, e.g. "--epochs 1 --train-subset 256 --width 0.0625"), NOTEBOOK_TORCH_ARGS (the same
# for PyTorch, e.g. "--epochs 1 --train 256"), NOTEBOOK_TIMEOUT (seconds for each run, default 420).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu/out}}
subset=${SUBSET:-10000}
models=${MODELS:-vgg16 cnn}
conformance=${CONFORMANCE:-TestConformance|TestOpsAgainstCPU}
notebook=${NOTEBOOK:-1}
mkdir -p "$out" gpu/data/cifar-10-batches-bin
step() { echo; echo "== $*"; }
# summarize rewrites the table from what OUT holds so far.
summarize() { python3 scripts/gpu-summary.py "$out" >"$out/summary.txt" 2>&1; }

step unpacking
for f in gpu/*.xz; do case $f in *.tar.xz) continue ;; esac; [ -f "${f%.xz}" ] || xz -dk "$f"; done
chmod +x gpu/cnntrain gpu/cuda.test gpu/cifar10-from-jpeg
# The full CIFAR-10, laid out from the bundle's JPEG archive by its converter in the official binary
# files (MD5s checked; seconds), for the notebook and the subset.
full=gpu/full
if [ ! -f "$full/cifar-10-batches-bin/test_batch.bin" ]; then
  rm -rf "$full.tmp" && mkdir -p "$full.tmp"
  if xz -dc gpu/cifar10-jpeg.tar.xz | gpu/cifar10-from-jpeg "$full.tmp" >"$out/data.log" 2>&1 &&
     (cd "$full.tmp/cifar-10-batches-bin" && md5sum -c --quiet "$OLDPWD/gpu/cifar10-MD5SUMS") >>"$out/data.log" 2>&1; then
    rm -rf "$full" && mv "$full.tmp" "$full"
  else
    echo "laying out CIFAR-10 from the JPEGs failed:"; tail -5 "$out/data.log"
  fi
fi
d=gpu/data/cifar-10-batches-bin
# The one-epoch runs read the official layout too: five training batches and a test batch of 10,000
# records each. The subset fills them: the first batch holds the 10,000 training images (the runs use
# --train-subset 10000, so the copies are never read), the test batch is the first 2,000 test images
# five times over (the same accuracy as on the 2,000).
head -c $((10000 * 3073)) "$full/cifar-10-batches-bin/data_batch_1.bin" >gpu/cifar-train-10k.bin
head -c $((2000 * 3073)) "$full/cifar-10-batches-bin/test_batch.bin" >gpu/cifar-test-2k.bin
cp gpu/cifar-train-10k.bin "$d/data_batch_1.bin"
for i in 2 3 4 5; do cp gpu/cifar-train-10k.bin "$d/data_batch_$i.bin"; done
cat gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin gpu/cifar-test-2k.bin >"$d/test_batch.bin"
printf '%s\n' airplane automobile bird cat deer dog frog horse ship truck >"$d/batches.meta.txt"

# PyTorch's wheels hold cuBLAS and cuDNN; point cnntrain at them too.
libs=$(python3 -c 'import glob, os, site
dirs = site.getsitepackages() + [site.getusersitepackages()]
print(":".join(sorted(p for d in dirs for p in glob.glob(os.path.join(d, "nvidia", "*", "lib")))))' 2>/dev/null)
export CNNTRAIN_CUDA_LIBS=${CNNTRAIN_CUDA_LIBS:-$libs}

step "diagnostics (libraries)"
diagnose() {
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  echo "CNNTRAIN_CUDA_LIBS=${CNNTRAIN_CUDA_LIBS:-}"
  echo "python3: $(command -v python3) $(python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())' 2>&1 | tail -1)"
  local d f
  for d in ${CNNTRAIN_CUDA_LIBS//:/ }; do
    echo "--- $d"; ls -l "$d" 2>&1 | head -60
  done
  echo "--- runpaths of libcudnn*"
  for d in ${CNNTRAIN_CUDA_LIBS//:/ }; do
    for f in "$d"/libcudnn*.so*; do
      [ -f "$f" ] || continue
      echo "$f: $(readelf -d "$f" 2>/dev/null | grep -E 'RUNPATH|RPATH|NEEDED' | sed -E 's/.*\((RUNPATH|RPATH|NEEDED)\).*: /\1 /' | tr '\n' ' ')"
    done
  done
  echo "--- ldconfig -p | CUDA libraries"
  ldconfig -p 2>/dev/null | grep -E 'libcuda\.|libcublas|libcudnn|libnvrtc' | head -20
  echo "--- LD_DEBUG=libs gpu/cnntrain devices, CUDA libraries only"
  LD_DEBUG=libs timeout 30 gpu/cnntrain devices 2>&1 | grep -E 'libcuda|libcublas|libcudnn|libnvrtc|libnvJitLink' |
    grep -E 'calling init|find library=|cannot|error' | sed -E 's/^ *[0-9]+: *//' | awk '!seen[$0]++' | head -80
}
timeout 60 bash -c "$(declare -f diagnose); diagnose" >"$out/diagnostics.txt" 2>&1
grep -E 'calling init|cannot|error' "$out/diagnostics.txt" | head -20

step GPU
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || true
step cnntrain devices
gpu/cnntrain devices | tee "$out/devices.txt"
summarize

step conformance: the parity suite and every op against the CPU
timeout 240 gpu/cuda.test -test.v -test.run "$conformance" >"$out/conformance.txt" 2>&1
conf_rc=$?
echo "$conf_rc" >"$out/conformance.rc"
summarize
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
  case " $models " in *" vgg16 "*) run_cnntrain vgg16 128 $tf32; run_torch vgg16 $tf32; summarize ;; esac
  case " $models " in *" cnn "*) run_cnntrain cnn 64 $tf32; run_torch lenet $tf32; summarize ;; esac
done
case " $models " in *" cnn "*) step "LeNet without CUDA graphs"; run_cnntrain cnn 64 false nographs; summarize ;; esac
case " $models " in *" vgg16 "*) step "vgg16 without cuDNN (im2col and cuBLAS)"; run_cnntrain vgg16 128 false nocudnn; summarize ;; esac

# notebook_section runs notebook 05_03 on the full CIFAR-10, laid out from the bundle's JPEG archive
# by its converter (the official binary files; MD5s checked), with cnntrain and with PyTorch.
notebook_section() {
  if [ "$notebook" = 0 ]; then echo "skipped (NOTEBOOK=0)"; return; fi
  local t0 rc
  if [ ! -f "$full/cifar-10-batches-bin/test_batch.bin" ]; then
    echo "no full CIFAR-10 (see $out/data.log): skipped" | tee "$out/notebook.txt"; return
  fi
  echo "full CIFAR-10 in $full: $(ls "$full/cifar-10-batches-bin" | tr '\n' ' ')"
  # shellcheck disable=SC2086 # NOTEBOOK_ARGS are words
  t0=$(date +%s.%N)
  timeout "${NOTEBOOK_TIMEOUT:-420}" gpu/cnntrain train --config configs/cifar10-vgg-notebook.yaml --device cuda \
    --data-dir "$full" --no-download --run-dir "$out/notebook-run" ${NOTEBOOK_ARGS:-} --json \
    >"$out/notebook-cnntrain.json" 2>"$out/notebook-cnntrain.log"
  rc=$?
  echo "$(date +%s.%N) $t0" | awk '{print $1 - $2}' >"$out/notebook-cnntrain.seconds"
  echo "cnntrain notebook: exit $rc, $(cat "$out/notebook-cnntrain.seconds") s"; tail -3 "$out/notebook-cnntrain.log"
  summarize
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  timeout "${NOTEBOOK_TIMEOUT:-420}" python3 scripts/reference/gpu_torch.py --data "$full" --model vgg11 --train 50000 \
    --epochs 10 --bn-batch-stats-at-test ${NOTEBOOK_TORCH_ARGS:-} >"$out/notebook-pytorch.json" 2>"$out/notebook-pytorch.log"
  rc=$?
  echo "$(date +%s.%N) $t0" | awk '{print $1 - $2}' >"$out/notebook-pytorch.seconds"
  echo "pytorch notebook: exit $rc, $(cat "$out/notebook-pytorch.seconds") s"; tail -2 "$out/notebook-pytorch.log"
}

step notebook
notebook_section
summarize
step summary
cat "$out/summary.txt"
