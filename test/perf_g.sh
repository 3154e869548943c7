#!/usr/bin/env bash
# The guide's step 5.4: GPU throughput per batch size, with TensorRT's trtexec where it is installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh" --helpers

usage() {
    cat <<'EOF'
usage: bash test/perf_g.sh [--bs "1 16"] [--onnx FILE] [--model_path FILE] [--precision fp16|fp32]
                           [--device_id N] [--device cuda|cpu] [--rounds N] [--log-dir DIR] [--dry-run]

GPU figures for each batch size, printed as the guide's parse.py prints them: gpu bs16 fps:5922.109
(throughput = 1000 x batch / mean GPU Compute Time in ms).

With TensorRT's trtexec (on PATH or in /usr/src/tensorrt/bin), as in the guide:
  trtexec --onnx=genet_gpu.onnx --fp16 --shapes=image:16x3x32x32 --threads
its log kept in DIR/trtexec_bs{bs}.log. Without trtexec, benchmark.py's pure-inference mode on
PyTorch (CUDA, fp16) runs the checkpoint instead, and says so: a PyTorch figure, not TensorRT's;
its reports go to DIR/gpu_pytorch/ (not to DIR/, where they would replace infer_bin.sh's).

  --bs "1 16"          batch sizes, space- or comma-separated (default: "1 16", as in the guide)
  --onnx FILE          ONNX model for trtexec (default: genet_gpu.onnx)
  --model_path FILE    checkpoint for the PyTorch fallback (default: genet.pth.tar)
  --precision P        fp16 (default, trtexec --fp16) or fp32
  --device_id N        GPU number for the PyTorch fallback (default: 0)
  --device D           PyTorch fallback device: cuda (default) or cpu (to try the script without a GPU)
  --rounds N           PyTorch fallback: batches timed per batch size (default: 200)
  --log-dir DIR        where trtexec logs and the fallback's reports go (default: result)
  --dry-run            print the commands without running them
  --help               this text
EOF
}

batch_list="1 16" onnx=genet_gpu.onnx model_path=genet.pth.tar precision=fp16 device_id=0 device=cuda
rounds=200 log_dir=result
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --dry-run) export GENET_DRY_RUN=1 ;;
        --*=) genet_die "${1%=} needs a value" ;;
        --bs|--onnx|--model_path|--precision|--device_id|--device|--rounds|--log-dir|--log_dir)
            (($# >= 2)) || genet_die "$1 needs a value"
            set -- "$1=$2" "${@:3}"
            continue ;;
        --bs=*) batch_list=${1#*=} ;;
        --onnx=*) onnx=${1#*=} ;;
        --model_path=*) model_path=${1#*=} ;;
        --precision=*) precision=${1#*=} ;;
        --device_id=*) device_id=${1#*=} ;;
        --device=*) device=${1#*=} ;;
        --rounds=*) rounds=${1#*=} ;;
        --log-dir=*|--log_dir=*) log_dir=${1#*=} ;;
        *) genet_die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

case $precision in fp16|fp32) ;; *) genet_die "--precision $precision: expected fp16 or fp32" ;; esac
case $device in cuda|cpu) ;; *) genet_die "--device $device: expected cuda or cpu" ;; esac
[[ "$device_id" =~ ^[0-9]+$ ]] || genet_die "--device_id $device_id is not a device number"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || genet_die "--rounds $rounds is not a positive integer"
batches=$(genet_batch_sizes "$batch_list")
python=$(genet_python)
genet_check_python "$python"

trtexec=$(command -v trtexec || true)
if [[ -z "$trtexec" && -x /usr/src/tensorrt/bin/trtexec ]]; then
    trtexec=/usr/src/tensorrt/bin/trtexec
fi

dry_run() { [[ "${GENET_DRY_RUN:-0}" == 1 ]]; }

dry_run || mkdir -p "$log_dir"
if [[ -n "$trtexec" ]]; then
    dry_run || [[ -f "$onnx" ]] || genet_die "$onnx: no such file (export it first: python3 pthtar2onnx.py genet.pth.tar)"
    genet_note "GPU figures from TensorRT: $trtexec"
    fp16=()
    [[ $precision == fp16 ]] && fp16=(--fp16)
    for bs in $batches; do
        log="$log_dir/trtexec_bs${bs}.log"
        command=("$trtexec" --onnx="$onnx" "${fp16[@]}" --shapes="image:${bs}x3x32x32" --threads)
        printf '+ %s > %s 2>&1\n' "$(genet_quote "${command[@]}")" "$(genet_quote "$log")"
        dry_run && continue
        "${command[@]}" > "$log" 2>&1 || genet_die "trtexec failed at batch size $bs: see $log"
        "$python" "$genet_root/test/parse.py" --batch-size "$bs" "$log"
    done
else
    dry_run || [[ -f "$model_path" ]] || genet_die "$model_path: no such file (the PyTorch fallback runs the checkpoint; or install TensorRT for trtexec)"
    genet_note "trtexec not found: GPU figures from benchmark.py on PyTorch ($device, $precision), not TensorRT"
    label=gpu
    [[ $device == cpu ]] && label=cpu
    for bs in $batches; do
        genet_run "$python" "$genet_root/benchmark.py" -device_id="$device_id" -om_path="$model_path" \
            -round="$rounds" -batch_size="$bs" --device "$device" --precision "$precision" \
            --output-dir "$log_dir/gpu_pytorch" --quiet ||
            genet_die "benchmark.py failed at batch size $bs"
        if ! dry_run; then
            # parse.py labels our runner's figures with the backend; this script's lines say "gpu".
            "$python" "$genet_root/test/parse.py" "$log_dir/gpu_pytorch/perf_vision_batchsize_${bs}_device_${device_id}.json" |
                sed "1s/^[^ ]* /$label /; 1s/\$/ (PyTorch $device $precision)/"
        fi
    done
fi
