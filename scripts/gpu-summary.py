#!/usr/bin/env python3
"""gpu-summary OUT: the table of what scripts/gpu-check.sh has measured so far in OUT (conformance,
the one-epoch speeds beside PyTorch, the notebook's wall times and accuracies); the script rewrites
OUT/summary.txt with it after each section and prints it last."""
import json, re, sys
out = sys.argv[1]
try:
    conf_rc = int(open(f"{out}/conformance.rc").read())
except Exception:
    conf_rc = None
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
for line in (open(f"{out}/conformance.txt", errors="replace") if conf_rc is not None else []):
    r = re.match(r"=== RUN\s+(\w+)\s*$", line)
    if r:
        test = r.group(1)
    m = re.search(r"(\w+)\s+(\S+)\s+\((.*?)\)\s+max rel err (\S+)", line)
    if m and test in labels:
        op = m.group(2).split("(")[0]
        w = worst.setdefault(labels[test], {})
        w[op] = max(w.get(op, 0.0), float(m.group(4)))
print("conformance: " + ("not run" if conf_rc is None else "PASS" if conf_rc == 0 else "FAIL (exit %d)" % conf_rc))
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
# The notebook (section 5): wall time and accuracy of each, from notebook-*.json and *.seconds.
rows = []
for who in ("cnntrain", "pytorch"):
    j = load(f"{out}/notebook-{who}.json")
    try:
        secs = float(open(f"{out}/notebook-{who}.seconds").read())
    except Exception:
        secs = None
    if j is None and secs is None:
        continue
    if who == "cnntrain":
        acc = j and j.get("metrics") and 100 * j["metrics"]["correct"] / j["metrics"]["total"]
        epochs = j and j.get("config", {}).get("epochs")
        n = j and j.get("config", {}).get("train_subset")
    else:
        acc, epochs, n = j and j.get("accuracy"), j and j.get("epochs"), None
    rows.append((who, "n/a" if secs is None else f"{secs:.0f} s", "n/a" if acc is None else f"{acc:.2f} %", epochs))
if rows:
    print("\nnotebook 05_03 (vgg11, configs/cifar10-vgg-notebook.yaml, full CIFAR-10 from the JPEGs):")
    print("| run | wall time | test accuracy | epochs |")
    print("| --- | --- | --- | --- |")
    for who, secs, acc, epochs in rows:
        print(f"| {who} | {secs} | {acc} | {epochs} |")
