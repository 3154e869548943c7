#!/usr/bin/env bash
# GPU check of benchmark.py's PyTorch backend, for one CUDA GPU (written for a lent H100).
#
#   bash benchmarks/gpu_check.sh            # from the repository root; needs python3 with torch (CUDA build)
#
# Generates 10,000 CIFAR-10-format images (genet.synthetic: generated data, NOT CIFAR-10),
# preprocesses them as the seed does, saves a random-init WRN-16-8 checkpoint (the seed's
# model; the weights only change the logits, not the work), then runs the seed's step-5
# command line with -om_path=model_best.pth.tar on the GPU: batch 1/16/64 in fp32/fp16/bf16
# eager, then channels-last + CUDA graphs, the packed-input fast path, pure-inference mode
# and torch.compile once if time is left. Checks: 10,000 dumps per run, fp16/bf16 top-1
# agreement with fp32, fp32 on the GPU against PyTorch on the CPU, and that the dumps feed
# cifar10_acc_eval.py. Prints a table last. Details go under $OUT (default ./gpu_check_out).
# Each step runs under `timeout`; the whole script aims at < 5 minutes and skips what is
# left of the run list after BUDGET_S seconds.
#
# Dry run of the plumbing on a machine without a GPU (CUDA-only runs are left out):
#   DEVICE=cpu IMAGES=64 OUT=/tmp/gpu_dry bash benchmarks/gpu_check.sh
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$PWD/gpu_check_out}
BUDGET_S=${BUDGET_S:-240}
IMAGES=${IMAGES:-10000}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/genet_gpu_check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$REPO PYTHONUNBUFFERED=1 DEVICE
START=$SECONDS

log() { echo "[gpu_check $((SECONDS - START))s] $*" | tee -a "$OUT/log.txt" >&2; }

# --- environment ------------------------------------------------------------------------
timeout 60 python3 - > "$OUT/environment.txt" 2>&1 <<'EOF'
import os, platform, sys
import numpy, torch
print("python", platform.python_version(), "| numpy", numpy.__version__, "| torch", torch.__version__,
      "| cuda", torch.version.cuda, "| cudnn", torch.backends.cudnn.version())
print("host", platform.node(), "|", platform.platform(), "|", os.cpu_count(), "CPUs")
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print("gpu0", props.name, f"{props.total_memory / 2**30:.1f} GiB", "| devices:", torch.cuda.device_count())
else:
    print("NO CUDA DEVICE")
    sys.exit(os.environ.get("DEVICE") == "cuda")
EOF
ENV_RC=$?
cat "$OUT/environment.txt" >&2
if [ "$ENV_RC" -ne 0 ]; then
    log "torch sees no CUDA device (or failed to import): this check needs the GPU machine"
    exit 1
fi
command -v nvidia-smi > /dev/null && timeout 20 nvidia-smi >> "$OUT/environment.txt" 2>&1

# --- data and model (in $WORK, so the seed's relative paths work) -----------------------
cd "$WORK" || exit 1
DATA="generated CIFAR-10-format (genet.synthetic, seed 0), preprocessed by preprocess.py"
if ! { timeout 120 python3 -m genet.synthetic ./datasets --train 0 --test "$IMAGES" --quiet &&
       timeout 120 python3 "$REPO/preprocess.py" ./datasets ./prep_dataset --packed --quiet; }; then
    log "generator or preprocess failed: falling back to random standard-normal .bin files"
    DATA="random standard-normal float32 .bin files (fallback)"
    timeout 120 python3 - "$IMAGES" <<'EOF' || { log "cannot write the fallback data set"; exit 1; }
import sys
from pathlib import Path
import numpy as np
count = int(sys.argv[1])
folder = Path("prep_dataset")
folder.mkdir(exist_ok=True)
images = np.random.default_rng(0).standard_normal((count, 3, 32, 32), dtype=np.float32)
labels = np.arange(count) % 10
for i, image in enumerate(images):
    image.tofile(folder / f"{i:05d}.bin")
np.save(folder / "images.npy", images)
(folder / "val_label.txt").write_text("".join(f"{i:05d}.bin {label}\n" for i, label in enumerate(labels)))
EOF
fi
timeout 60 python3 "$REPO/get_info.py" bin ./prep_dataset ./genet_prep_bin.info 32 32 || { log "get_info failed"; exit 1; }
timeout 60 python3 -c "
import torch
from genet.checkpoint import save_checkpoint
from genet.model import build_model
from genet.variant import Variant
torch.manual_seed(0)
save_checkpoint('model_best.pth.tar', build_model(Variant(depth=16, width=8)))
" || { log "cannot write the WRN-16-8 checkpoint"; exit 1; }
log "data: $IMAGES images, $DATA; model: WRN-16-8 random init"

# --- benchmark runs -------------------------------------------------------------------------
# name | batch | precision | extra flags
RUNS=(
    "eager-fp32-bs1|1|fp32|--no-packed"
    "eager-fp32-bs16|16|fp32|--no-packed"
    "eager-fp32-bs64|64|fp32|--no-packed"
    "eager-fp16-bs1|1|fp16|--no-packed"
    "eager-fp16-bs16|16|fp16|--no-packed"
    "eager-fp16-bs64|64|fp16|--no-packed"
    "eager-bf16-bs1|1|bf16|--no-packed"
    "eager-bf16-bs16|16|bf16|--no-packed"
    "eager-bf16-bs64|64|bf16|--no-packed"
    "graphs-cl-fp16-bs1|1|fp16|--no-packed --channels-last --cuda-graphs"
    "graphs-cl-fp16-bs16|16|fp16|--no-packed --channels-last --cuda-graphs"
    "graphs-cl-fp16-bs64|64|fp16|--no-packed --channels-last --cuda-graphs"
    "graphs-cl-fp32-bs64|64|fp32|--no-packed --channels-last --cuda-graphs"
    "graphs-cl-bf16-bs64|64|bf16|--no-packed --channels-last --cuda-graphs"
    "packed-graphs-cl-fp16-bs64|64|fp16|--channels-last --cuda-graphs"
    "pure-graphs-cl-fp16-bs64|64|fp16|--channels-last --cuda-graphs"
    "compile-graphs-cl-fp16-bs64|64|fp16|--no-packed --channels-last --cuda-graphs --compile"
)
: > "$OUT/runs/order.txt"
for spec in "${RUNS[@]}"; do
    IFS='|' read -r name batch precision extra <<< "$spec"
    if [ "$DEVICE" != cuda ] && [[ "$extra" == *--cuda-graphs* || "$precision" == fp16 ]]; then
        continue     # CUDA graphs need CUDA; fp16 convolutions crawl on a CPU
    fi
    echo "$name" >> "$OUT/runs/order.txt"
    budget=$BUDGET_S
    case "$name" in compile-*) budget=$((BUDGET_S - 60)) ;; esac     # compiling takes a minute or more
    if [ $((SECONDS - START)) -gt "$budget" ]; then
        log "$name: skipped (past the ${budget}s budget)"
        echo "skipped: time budget" > "$OUT/runs/$name.skipped"
        continue
    fi
    limit=90
    case "$name" in compile-*) limit=150 ;; esac
    if [ "${name%%-*}" = "pure" ]; then
        inputs=(-round=100)
    else
        inputs=(-model_type=vision -input_text_path=genet_prep_bin.info -input_width=32 -input_height=32
                -output_binary=False -useDvpp=False --packed-output)
    fi
    # shellcheck disable=SC2086  # $extra holds several flags
    timeout --kill-after=10 "$limit" python3 "$REPO/benchmark.py" -device_id=0 "-batch_size=$batch" \
        -om_path=model_best.pth.tar "${inputs[@]}" --device "$DEVICE" --precision "$precision" $extra \
        --quiet --output-dir "runs/$name" > "$OUT/runs/$name.stdout" 2> "$OUT/runs/$name.stderr"
    rc=$?
    cp "runs/$name"/perf_vision_batchsize_*.json "$OUT/runs/$name.perf.json" 2> /dev/null
    cp "runs/$name"/perf_vision_batchsize_*.txt "$OUT/runs/$name.perf.txt" 2> /dev/null
    log "$name: exit $rc$( [ "$rc" -eq 124 ] && echo ' (timeout)')"
    echo "$rc" > "$OUT/runs/$name.rc"
done

# --- checks ---------------------------------------------------------------------------------
timeout 90 python3 - "$OUT" "$IMAGES" > "$OUT/verify.txt" 2>&1 <<'EOF'
import sys
from pathlib import Path
import numpy as np
import torch
from genet.checkpoint import load_model
from genet.dumps import PACKED_DUMP, read_packed, scan_dumps

out, images = Path(sys.argv[1]), int(sys.argv[2])
runs = Path("runs")
for folder in sorted(runs.iterdir()):
    dumps = folder / "dumpOutput_device0"
    if dumps.is_dir():
        count = len(scan_dumps(dumps))
        print(f"{folder.name}: {count} dumps for {images} images {'OK' if count == images else 'MISMATCH'}")


def packed(name):
    path = runs / name / "dumpOutput_device0" / PACKED_DUMP
    return read_packed(path)[1] if path.exists() else None


reference = packed("eager-fp32-bs64")
if reference is None:
    print("no fp32 reference run: agreement not checked")
    sys.exit(1)
for name in sorted(p.name for p in runs.iterdir()):
    logits = packed(name)
    if logits is None or name == "eager-fp32-bs64":
        continue
    agree = float((logits.argmax(1) == reference.argmax(1)).mean())
    print(f"{name} vs eager-fp32-bs64: top-1 agreement {agree:.4%}, max |Δ| {np.abs(logits - reference).max():.3g}")
model, _ = load_model("model_best.pth.tar", log=None)
first = min(256, images)
batch = np.stack([np.fromfile(f"prep_dataset/{i:05d}.bin", dtype=np.float32).reshape(3, 32, 32)
                  for i in range(first)])
with torch.no_grad():
    cpu = model(torch.from_numpy(batch)).numpy()
agree = float((cpu.argmax(1) == reference[:first].argmax(1)).mean())
print(f"eager-fp32-bs64 vs PyTorch fp32 on the CPU, first {first} images: top-1 agreement {agree:.4%}, "
      f"max |Δ| {np.abs(cpu - reference[:first]).max():.3g} (on a GPU, cuDNN may run fp32 convs in TF32)")
EOF
cat "$OUT/verify.txt" >&2
if [ -d runs/eager-fp32-bs64/dumpOutput_device0 ]; then
    timeout 60 python3 "$REPO/cifar10_acc_eval.py" runs/eager-fp32-bs64/dumpOutput_device0/ ./prep_dataset/val_label.txt \
        "$OUT" result_bs64.json > "$OUT/acc_eval.txt" 2>&1
    echo "cifar10_acc_eval.py on eager-fp32-bs64 dumps (exit $?; random-init model, so ~10% is expected):" >&2
    cat "$OUT/acc_eval.txt" >&2
fi

# --- table (last) ---------------------------------------------------------------------------
timeout 30 python3 - "$OUT" "$IMAGES" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
from pathlib import Path

out, images = Path(sys.argv[1]), int(sys.argv[2])
print(open(out / "environment.txt").readline().strip())
print(f"WRN-16-8 (random init), {images} generated images, benchmark.py -om_path=model_best.pth.tar; "
      f"figures in images/s")
print(f"{'run':30} {'bs':>3} {'prec':>5} {'e2e fps':>9} {'Interface fps':>13} {'device p50 ms/batch':>19}  status")
for stem in (out / "runs" / "order.txt").read_text().split():
    perf = out / "runs" / f"{stem}.perf.json"
    rc_file = out / "runs" / f"{stem}.rc"
    status = "skipped (time)" if (out / "runs" / f"{stem}.skipped").exists() else \
        f"exit {rc_file.read_text().strip()}" if rc_file.exists() else "?"
    if perf.exists():
        d = json.loads(perf.read_text())
        print(f"{stem:30} {d['batch_size']:>3} {d['precision']:>5} {d['e2e_throughput']:>9.1f} "
              f"{d['interface_throughput']:>13.1f} {d['batch_latency_ms']['device']['p50']:>19.3f}  {status}")
    else:
        err = (out / "runs" / f"{stem}.stderr")
        last = err.read_text().strip().splitlines()[-1][:80] if err.exists() and err.read_text().strip() else ""
        print(f"{stem:30} {'':>3} {'':>5} {'':>9} {'':>13} {'':>19}  {status} {last}")
EOF
log "done; details in $OUT"
