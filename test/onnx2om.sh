#!/usr/bin/env bash
# Seed step 4.3: convert genet_gpu.onnx into one Ascend .om model per batch size with ATC.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh" --helpers

usage() {
    cat <<'EOF'
Usage: bash test/onnx2om.sh [--onnx FILE] [--soc SOC] [--bs "1 16"] [--tune] [--log LEVEL]
                            [--output_prefix PREFIX] [--toolkit DIR] [--dry-run]

Convert the ONNX model into one .om per batch size with Huawei's ATC, as in the seed guide:
  atc --model=genet_gpu.onnx --framework=5 --input_format=NCHW \
      --input_shape="image:16,3,32,32" --output=genet_bs16_tuned --soc_version=Ascend310 --log=error
ATC appends .om to the output name: genet_bs1_tuned.om, genet_bs16_tuned.om.

  --onnx FILE            ONNX model (default: genet_gpu.onnx, written by pthtar2onnx.py)
  --soc SOC              target chip: Ascend310 (default), Ascend310P3 (the 710 card on CANN >= 5.1),
                         Ascend710 (the same card on CANN 5.0.x)
  --bs "1 16"            batch sizes, space- or comma-separated (default: "1 16", as in the seed)
  --tune                 pass --auto_tune_mode="GA" (CANN 5.0.x only: later versions removed the
                         option and tune with the separate AOE tool)
  --log LEVEL            ATC log level: debug, info, warning, error (default), null
  --output_prefix PREFIX output names are PREFIX{bs}_tuned (default: genet_bs)
  --toolkit DIR          CANN install to use (default: see test/env.sh)
  --dry-run              print the commands without running them
  --help                 this text

CANN's environment is set up through test/env.sh; atc must then be on PATH.
EOF
}

onnx=genet_gpu.onnx soc=Ascend310 batch_list="1 16" tune=0 log=error prefix=genet_bs
cann_args=()
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --dry-run) export GENET_DRY_RUN=1 ;;
        --*=) genet_die "${1%=} needs a value" ;;
        --tune) tune=1 ;;
        --onnx|--soc|--bs|--log|--output_prefix|--toolkit)
            (($# >= 2)) || genet_die "$1 needs a value"
            set -- "$1=$2" "${@:3}"
            continue ;;
        --onnx=*) onnx=${1#*=} ;;
        --soc=*) soc=${1#*=} ;;
        --bs=*) batch_list=${1#*=} ;;
        --log=*) log=${1#*=} ;;
        --output_prefix=*) prefix=${1#*=} ;;
        --toolkit=*) cann_args=(--toolkit "${1#*=}") ;;
        *) genet_die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

case $soc in
    Ascend310|Ascend310P3|Ascend710) ;;
    *) genet_die "--soc $soc: expected Ascend310, Ascend310P3 or Ascend710" ;;
esac
case $log in
    debug|info|warning|error|null) ;;
    *) genet_die "--log $log: expected debug, info, warning, error or null" ;;
esac
batches=$(genet_batch_sizes "$batch_list")

if [[ "${GENET_DRY_RUN:-0}" == 1 ]]; then
    genet_source_cann --optional --dry-run "${cann_args[@]}"
else
    [[ -f "$onnx" ]] || genet_die "$onnx: no such file (export it first: python3 pthtar2onnx.py genet.pth.tar)"
    genet_source_cann --optional "${cann_args[@]}"
    command -v atc >/dev/null 2>&1 ||
        genet_die "atc not found: install the CANN toolkit, or point test/env.sh at it (--toolkit DIR or ASCEND_TOOLKIT_HOME); on a machine without an NPU, skip this step and run the .onnx with ONNX Runtime"
fi

for bs in $batches; do
    output="${prefix}${bs}_tuned"
    atc_args=(--model="$onnx" --framework=5 --input_format=NCHW --input_shape="image:${bs},3,32,32"
              --output="$output" --soc_version="$soc" --log="$log")
    ((tune)) && atc_args+=(--auto_tune_mode="GA")
    if ! genet_run atc "${atc_args[@]}"; then
        hint=""
        ((tune)) && hint="; if it rejected --auto_tune_mode, this CANN is newer than 5.0.x: run without --tune"
        genet_die "atc failed for batch size $bs (its log above says why)$hint"
    fi
    if [[ "${GENET_DRY_RUN:-0}" != 1 ]]; then
        [[ -s "$output.om" ]] || genet_die "atc reported success but wrote no $output.om"
        printf 'wrote %s.om (batch %s, %s)\n' "$output" "$bs" "$soc"
    fi
done
