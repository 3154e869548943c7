#!/usr/bin/env bash
# The guide's step 5.2: inference over the info file, once per batch size, with the best tool at hand.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh" --helpers

usage() {
    cat <<'EOF'
usage: bash test/infer_bin.sh [--bs "1 16"] [--backend auto|npu|onnxruntime|torch] [--device_id N]
                              [--info FILE] [--onnx FILE] [--model_path FILE] [--om-prefix PREFIX]
                              [--output_binary] [--which] [--dry-run] [-- RUNNER OPTIONS]

Run the model over every input of the info file, once per batch size, writing what the Ascend
benchmark tool writes, whichever tool runs:
  result/dumpOutput_device{N}/{stem}_1.txt        the logits of each image (one line)
  result/perf_vision_batchsize_{bs}_device_{N}.txt the five-line performance report
The dumps are replaced at each batch size: score them (cifar10_acc_eval.py) before the next.

The tool, for --backend auto (the default):
  1. the Ascend benchmark tool, ./benchmark.{arch} or benchmark.{arch} on PATH ({arch}: uname -m),
     on the .om models of test/onnx2om.sh;
  2. else, where the ais_bench Python package is installed, benchmark.py on the same .om models
     (through ais_bench's Python API);
  3. else benchmark.py with ONNX Runtime on the CPU, on the .onnx model.
--backend npu insists on 1 or 2; onnxruntime and torch pick benchmark.py's ONNX Runtime or
PyTorch backend (PyTorch runs the checkpoint, on CUDA when there is a GPU).

  --bs "1 16"         batch sizes, space- or comma-separated (default: "1 16")
  --backend B         auto (default), npu, onnxruntime or torch
  --device_id N       NPU or GPU number; names the dump folder and perf file (default: 0)
  --info FILE         info file of the inputs (default: genet_prep_bin.info, from get_info.py)
  --onnx FILE         model for ONNX Runtime (default: genet_gpu.onnx)
  --model_path FILE   checkpoint for PyTorch (default: genet.pth.tar)
  --om-prefix PREFIX  .om models are PREFIX{bs}_tuned.om (default: genet_bs)
  --output_binary     dumps as raw float32 {stem}_1.bin instead of text
  --which             print the tool that would run (benchmark, ais_bench, onnxruntime or torch)
                      and exit
  --dry-run           print the commands without running them
  -- OPTIONS          passed on to benchmark.py (e.g. -- --threads 2 --quiet); not to the Ascend tool
  --help              this text
EOF
}

batch_list="1 16" backend=auto device_id=0 info=genet_prep_bin.info onnx=genet_gpu.onnx
model_path=genet.pth.tar prefix=genet_bs output_binary=False which=0
runner_args=()
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --dry-run) export GENET_DRY_RUN=1 ;;
        --which) which=1 ;;
        --output_binary) output_binary=True ;;
        --) shift; runner_args=("$@"); break ;;
        --*=) genet_die "${1%=} needs a value" ;;
        --bs|--backend|--device_id|--info|--onnx|--model_path|--om-prefix|--om_prefix)
            (($# >= 2)) || genet_die "$1 needs a value"
            set -- "$1=$2" "${@:3}"
            continue ;;
        --bs=*) batch_list=${1#*=} ;;
        --backend=*) backend=${1#*=} ;;
        --device_id=*) device_id=${1#*=} ;;
        --info=*) info=${1#*=} ;;
        --onnx=*) onnx=${1#*=} ;;
        --model_path=*) model_path=${1#*=} ;;
        --om-prefix=*|--om_prefix=*) prefix=${1#*=} ;;
        *) genet_die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

case $backend in
    auto|npu|onnxruntime|torch) ;;
    *) genet_die "--backend $backend: expected auto, npu, onnxruntime or torch" ;;
esac
[[ "$device_id" =~ ^[0-9]+$ ]] || genet_die "--device_id $device_id is not a device number"
batches=$(genet_batch_sizes "$batch_list")
python=$(genet_python)
genet_check_python "$python"
arch=$(uname -m)

# The Ascend benchmark tool: in the current folder (where the guide puts it), else on PATH.
find_benchmark_tool() {
    local local_tool="./benchmark.$arch"
    if [[ -f "$local_tool" ]]; then
        [[ -x "$local_tool" ]] || genet_die "$local_tool is not executable: chmod u+x $local_tool"
        printf '%s\n' "$local_tool"
    else
        command -v "benchmark.$arch" || true
    fi
}

has_ais_bench() {
    "$python" -c 'import ais_bench.infer.interface' >/dev/null 2>&1
}

tool=""
kind=$backend
if [[ $backend == auto || $backend == npu ]]; then
    genet_source_cann --optional --quiet
    tool=$(find_benchmark_tool)
    if [[ -n "$tool" ]]; then
        kind=benchmark
    elif has_ais_bench; then
        kind=ais_bench
    elif [[ $backend == npu ]]; then
        genet_die "--backend npu: no Ascend inference tool here: neither benchmark.$arch (in . or on PATH) nor the ais_bench Python package ($python -m pip install ais_bench aclruntime, from Huawei's ait releases)"
    else
        kind=onnxruntime
    fi
fi

if ((which)); then
    printf '%s\n' "$kind"
    exit 0
fi

case $kind in
    benchmark) genet_note "inference with the Ascend benchmark tool $tool" ;;
    ais_bench) genet_note "inference with benchmark.py through ais_bench (no benchmark.$arch found)" ;;
    onnxruntime) genet_note "inference with benchmark.py on ONNX Runtime$([[ $backend == auto ]] && printf '%s' ' (no Ascend tool found)')" ;;
    torch) genet_note "inference with benchmark.py on PyTorch" ;;
esac

# The Ascend tool writes in place under ./result: its previous outputs are kept aside until it
# succeeds, and put back when it fails or is stopped (benchmark.py swaps its outputs in itself).
backup="" outputs=()
keep_aside() {
    local name
    outputs=("$@")
    mkdir -p result
    backup=$(mktemp -d "result/.infer_bin.$$.XXXXXX.old")
    for name in "${outputs[@]}"; do
        if [[ -e "result/$name" || -L "result/$name" ]]; then
            mv "result/$name" "$backup/$name"
        fi
    done
}
put_back() {
    local name
    [[ -n "$backup" ]] || return 0
    for name in "${outputs[@]}"; do
        if [[ -e "$backup/$name" || -L "$backup/$name" ]]; then
            rm -rf "result/${name:?}"          # what the failed run wrote in its place
            mv "$backup/$name" "result/$name"
        fi
    done
    rm -rf "$backup"
    backup=""
}
trap put_back EXIT

runner=("$python" "$genet_root/benchmark.py")
for bs in $batches; do
    case $kind in
        benchmark) model="${prefix}${bs}_tuned.om"; command=("$tool") ;;
        ais_bench) model="${prefix}${bs}_tuned.om"; command=("${runner[@]}") ;;
        onnxruntime) model=$onnx; command=("${runner[@]}") ;;
        torch) model=$model_path; command=("${runner[@]}") ;;
    esac
    if [[ "${GENET_DRY_RUN:-0}" != 1 ]]; then
        [[ -f "$info" ]] || genet_die "$info: no such file (write it first: python3 get_info.py bin ./prep_dataset ./genet_prep_bin.info 32 32)"
        if [[ ! -f "$model" ]]; then
            [[ "$model" == *.om ]] && genet_die "$model: no such file (convert it first: bash test/onnx2om.sh --bs \"$batch_list\")"
            genet_die "$model: no such file"
        fi
    fi
    extra=()
    [[ $kind == benchmark ]] || extra=("${runner_args[@]}")
    perf="perf_vision_batchsize_${bs}_device_${device_id}"
    if [[ $kind == benchmark && "${GENET_DRY_RUN:-0}" != 1 ]]; then
        keep_aside "dumpOutput_device${device_id}" "$perf.txt" "$perf.json"
    fi
    genet_run "${command[@]}" -model_type=vision -device_id="$device_id" -batch_size="$bs" -om_path="$model" \
        -input_text_path="$info" -input_width=32 -input_height=32 -output_binary="$output_binary" -useDvpp=False \
        "${extra[@]}" || genet_die "inference at batch size $bs failed (exit $?)"
    if [[ "${GENET_DRY_RUN:-0}" != 1 ]]; then
        [[ -s "result/$perf.txt" ]] || genet_die "the run at batch size $bs wrote no result/$perf.txt"
        if [[ -n "$backup" ]]; then
            rm -rf "$backup"                # the run succeeded: the old outputs, a stale .json included, go
            backup=""
        fi
        printf 'bs%s: dumps in result/dumpOutput_device%s/, report result/%s.txt\n' "$bs" "$device_id" "$perf"
    fi
done
