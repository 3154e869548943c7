#!/usr/bin/env bash
# The GPU check of docs/gpu.md, as ONE call on an NVIDIA GPU (written for an H100/H200):
#
#   bash benchmarks/gpu_check.sh                 # from the repository root; python3 with a CUDA torch
#   OUT=/some/dir bash benchmarks/gpu_check.sh   # details go under $OUT (default ./gpu_check_out)
#   bash benchmarks/gpu_check.sh --cpu-smoke     # the same steps on the CPU with a tiny model (a few minutes)
#
# 1. data: generated CIFAR-10-format images (genet.data.synthetic: NOT CIFAR-10), TRAIN_IMAGES for
#    training and IMAGES (10,000) test images preprocessed by preprocess.py --packed;
# 2. model: a WRN-16-8 TRAINED here by train.py on the GPU (bf16 autocast, channels-last) for a
#    few epochs, so that fp16/bf16 agreement with fp32 is judged on spread-out logits; also
#    exported to ONNX (genet_gpu.onnx) for ONNX Runtime's CUDA execution provider as a peer;
# 3. fp32 reference logits of the 10,000 images (unfolded model, TF32 off);
# 4. benchmarks/gpu_sweep.py, one process per mode (eager fp32/fp16/bf16, our CUDA graphs,
#    torch.compile max-autotune with torch's or our CUDA graphs, ORT CUDA EP), batch 1…2048
#    in the order of BATCHES until the mode's time budget is spent: device-only img/s, H2D /
#    compute / D2H percentiles, first-use (compile) seconds, top-1 agreement with the reference;
# 5. benchmark.py (the user's tool) with the fastest mode: 10,000 images from the packed input
#    with packed output at the best batch (e2e / Interface), batch 1 pure
#    inference, per-file .txt dumps, and bare writes of 10,000 .txt dumps timed alone;
# 6. the table, printed last and written to $OUT/summary.txt.
#
# Each step runs under `timeout`; modes and batch sizes are skipped when BUDGET_S runs out,
# and the table says which. Everything else is under $OUT: environment.txt (GPU, driver,
# torch, CUDA), log.txt, train.txt, sweep/MODE.json, e2e/*.perf.json, *.stderr.
set -uo pipefail

SMOKE=0
case "${1:-}" in
    --cpu-smoke) SMOKE=1 ;;
    "") ;;
    *) echo "usage: bash benchmarks/gpu_check.sh [--cpu-smoke]" >&2; exit 2 ;;
esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$PWD/gpu_check_out}
if [ "$SMOKE" -eq 1 ]; then
    DEVICE=cpu; IMAGES=${IMAGES:-64}; TRAIN_IMAGES=${TRAIN_IMAGES:-256}; DEPTH=10; WIDTH=1; EPOCHS=1
    TRAIN_FLAGS="--device cpu --batch-size 32"
    BATCHES=${BATCHES:-1,4,16}; BUDGET_S=${BUDGET_S:-400}; WRITE_DUMPS=$IMAGES; TIMED_IMAGES=32
    MODES=${MODES:-"eager-fp32 eager-bf16-cl ort-cpu-fp32 compile-fp32"}
else
    DEVICE=cuda; IMAGES=${IMAGES:-10000}; TRAIN_IMAGES=${TRAIN_IMAGES:-20000}; DEPTH=16; WIDTH=8
    EPOCHS=${EPOCHS:-8}; TRAIN_FLAGS="--device cuda --precision bf16 --channels-last --batch-size 128"
    BATCHES=${BATCHES:-1,256,1024,2048,512,128,64,16,4,32,8,2}; BUDGET_S=${BUDGET_S:-540}; WRITE_DUMPS=$IMAGES
    TIMED_IMAGES=20000
    # most informative first: the budget may end the list
    MODES=${MODES:-"eager-fp32 graphs-fp16-cl compile-fp16-cl compile-graphs-fp16-cl ort-cuda-fp32 eager-fp16-cl
                    graphs-fp16-cl-nofold eager-bf16-cl graphs-bf16-cl compile-bf16-cl"}
fi
E2E_RESERVE_S=${E2E_RESERVE_S:-100}     # kept for step 5 when the sweep is cut short
mkdir -p "$OUT/sweep" "$OUT/e2e"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/genet_gpu_check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$REPO PYTHONUNBUFFERED=1
START=$SECONDS

log() { echo "[gpu_check $((SECONDS - START))s] $*" | tee -a "$OUT/log.txt" >&2; }
left() { echo $((BUDGET_S - (SECONDS - START))); }

# --- environment ------------------------------------------------------------------------
DEVICE=$DEVICE timeout 60 "$PYTHON" - > "$OUT/environment.txt" 2>&1 <<'EOF'
import datetime, os, platform, sys
import numpy, torch
print("date", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
print("python", platform.python_version(), "| numpy", numpy.__version__, "| torch", torch.__version__,
      "| cuda", torch.version.cuda, "| cudnn", torch.backends.cudnn.version())
try:
    import onnxruntime
    print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
except ImportError:
    print("onnxruntime: not installed")
print("host", platform.node(), "|", platform.platform(), "|", os.cpu_count(), "CPUs")
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print("gpu0", props.name, f"{props.total_memory / 2**30:.1f} GiB", "| devices:", torch.cuda.device_count())
else:
    print("NO CUDA DEVICE")
    sys.exit(os.environ["DEVICE"] == "cuda")
EOF
ENV_RC=$?
cat "$OUT/environment.txt" >&2
if [ "$ENV_RC" -ne 0 ]; then
    log "torch sees no CUDA device (or failed to import): this check needs the GPU machine (or --cpu-smoke)"
    exit 1
fi
command -v nvidia-smi > /dev/null && timeout 20 nvidia-smi >> "$OUT/environment.txt" 2>&1

# --- 1-3: data, trained model, ONNX, reference (in $WORK, so the guide's relative paths work) ---
cd "$WORK" || exit 1
timeout 180 "$PYTHON" -m genet.cli.synthetic ./datasets --train "$TRAIN_IMAGES" --test "$IMAGES" --quiet &&
    timeout 180 "$PYTHON" "$REPO/preprocess.py" ./datasets ./prep_dataset --packed --quiet &&
    timeout 60 "$PYTHON" "$REPO/get_info.py" bin ./prep_dataset ./genet_prep_bin.info 32 32 ||
    { log "generating or preprocessing the data failed"; exit 1; }
log "data: $TRAIN_IMAGES training and $IMAGES test images, generated (genet.data.synthetic --seed 0), NOT CIFAR-10"
# shellcheck disable=SC2086  # TRAIN_FLAGS holds several flags
timeout 240 "$PYTHON" "$REPO/train.py" ./datasets --depth "$DEPTH" --width "$WIDTH" --epochs "$EPOCHS" --limit 0 \
    $TRAIN_FLAGS --test-accuracy --quiet --output model_best.pth.tar > "$OUT/train.txt" 2>&1 ||
    { cat "$OUT/train.txt" >&2; log "training failed"; exit 1; }
log "trained WRN-$DEPTH-$WIDTH: $(tr '\n' ' ' < "$OUT/train.txt")"
timeout 120 "$PYTHON" "$REPO/pthtar2onnx.py" model_best.pth.tar -o genet_gpu.onnx > "$OUT/export.txt" 2>&1 ||
    log "ONNX export failed (ONNX Runtime modes will fail): $(tail -1 "$OUT/export.txt")"
timeout 120 "$PYTHON" "$REPO/benchmarks/gpu_sweep.py" reference model_best.pth.tar --images prep_dataset/images.npy \
    --out reference.npy --device "$DEVICE" 2> "$OUT/reference.stderr" ||
    { cat "$OUT/reference.stderr" >&2; log "reference logits failed"; exit 1; }

# --- 4: the sweep, one process per mode ------------------------------------------------------
for mode in $MODES; do
    budget=40
    case "$mode" in compile-*) budget=120 ;; esac
    room=$(( $(left) - E2E_RESERVE_S ))
    if [ "$room" -lt 15 ]; then
        log "$mode: skipped (time budget spent)"
        echo "{\"mode\": \"$mode\", \"error\": \"not run: time budget spent\"}" > "$OUT/sweep/$mode.json"
        continue
    fi
    [ "$room" -lt "$budget" ] && budget=$room
    model=model_best.pth.tar
    case "$mode" in ort-*) model=genet_gpu.onnx ;; esac
    timeout --kill-after=10 $((budget + 90)) "$PYTHON" "$REPO/benchmarks/gpu_sweep.py" mode "$mode" "$model" \
        --batches "$BATCHES" --images prep_dataset/images.npy --reference reference.npy --device "$DEVICE" \
        --budget-s "$budget" --timed-images "$TIMED_IMAGES" --out "$OUT/sweep/$mode.json" \
        2> "$OUT/sweep/$mode.stderr"
    rc=$?
    [ -s "$OUT/sweep/$mode.json" ] ||
        echo "{\"mode\": \"$mode\", \"error\": \"exit $rc, no result (timeout or crash; see $mode.stderr)\"}" \
            > "$OUT/sweep/$mode.json"
    log "$mode: exit $rc"
done

# --- 5: benchmark.py, the user's command line, with the fastest mode -------------------------
mapfile -t PICKS < <("$PYTHON" "$REPO/benchmarks/gpu_sweep.py" best "$OUT/sweep")
bench() {   # name, seconds, benchmark.py arguments...
    local name=$1 limit=$2 room=$(( $(left) + 50 ))
    shift 2
    [ "$room" -lt "$limit" ] && limit=$room
    if [ "$limit" -lt 20 ]; then
        log "benchmark.py $name: skipped (time budget spent)"
        return
    fi
    timeout --kill-after=10 "$limit" "$PYTHON" "$REPO/benchmark.py" -device_id=0 -om_path=model_best.pth.tar \
        --device "$DEVICE" --quiet --output-dir "runs/$name" "$@" > "$OUT/e2e/$name.stdout" 2> "$OUT/e2e/$name.stderr"
    local rc=$?
    cp "runs/$name"/perf_vision_batchsize_*.json "$OUT/e2e/$name.perf.json" 2> /dev/null
    log "benchmark.py $name: exit $rc"
}
DATASET=(-model_type=vision -input_text_path=genet_prep_bin.info -input_width=32 -input_height=32
         --packed-input ./prep_dataset/images.npy
         -output_binary=False -useDvpp=False)
if [ "${PICKS[0]:--}" != "-" ]; then
    read -r best_mode best_batch best_flags <<< "${PICKS[0]}"
    log "fastest: $best_mode at batch $best_batch ($best_flags)"
    # shellcheck disable=SC2086  # best_flags holds several flags
    bench "packed-$best_mode-bs$best_batch" 150 "-batch_size=$best_batch" "${DATASET[@]}" --packed-output $best_flags
    # shellcheck disable=SC2086
    bench "txt-$best_mode-bs$best_batch" 150 "-batch_size=$best_batch" "${DATASET[@]}" $best_flags
    timeout 60 "$PYTHON" "$REPO/cifar10_acc_eval.py" "runs/txt-$best_mode-bs$best_batch/dumpOutput_device0/" \
        ./prep_dataset/val_label.txt "$OUT" acc_eval.json > "$OUT/acc_eval.txt" 2>&1
    log "cifar10_acc_eval.py on those dumps (generated data, NOT CIFAR-10): exit $?"
fi
if [ "${PICKS[1]:--}" != "-" ]; then
    read -r one_mode _ one_flags <<< "${PICKS[1]}"
    # shellcheck disable=SC2086
    bench "pure-$one_mode-bs1" 120 -batch_size=1 -round=$((IMAGES / 2)) $one_flags
fi
timeout 120 "$PYTHON" - "$WRITE_DUMPS" > "$OUT/e2e/bare_dump_writes.txt" 2>&1 <<'EOF'
import sys, tempfile, time
import numpy as np
from genet.formats.dumps import write_dumps
count = int(sys.argv[1])
logits = np.random.default_rng(0).standard_normal((count, 10)).astype(np.float32)
with tempfile.TemporaryDirectory(dir=".") as folder:
    start = time.perf_counter()
    write_dumps(folder, [f"{i:05d}" for i in range(count)], logits)
    seconds = time.perf_counter() - start
print(f"bare writes of {count} .txt dumps (genet.formats.dumps.write_dumps, no model): {seconds:.2f} s, "
      f"{count / seconds:,.0f} files/s")
EOF

# --- 6: the table (last) --------------------------------------------------------------------
{
    head -4 "$OUT/environment.txt"
    echo "WRN-$DEPTH-$WIDTH trained here on generated data (NOT CIFAR-10): $(tr '\n' ' ' < "$OUT/train.txt")"
    "$PYTHON" "$REPO/benchmarks/gpu_sweep.py" table "$OUT/sweep" "$OUT/e2e"
    cat "$OUT/e2e/bare_dump_writes.txt"
    echo "command: bash benchmarks/gpu_check.sh $*; $((SECONDS - START)) s; details in $OUT"
} | tee "$OUT/summary.txt"
