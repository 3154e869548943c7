#!/usr/bin/env bash
# The guide's step 4.3: convert genet_gpu.onnx into one Ascend .om model per batch size with ATC.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh" --helpers

usage() {
    cat <<'EOF'
usage: bash test/onnx2om.sh [--onnx FILE] [--soc SOC] [--bs "1 16"] [--tune] [--log LEVEL]
                            [--output-prefix PREFIX] [--toolkit DIR] [--dry-run]
                            [--int8 [--datasets_path DIR] [--calib N]]

Convert the ONNX model into one .om per batch size with Huawei's ATC, as in the guide:
  atc --model=genet_gpu.onnx --framework=5 --input_format=NCHW \
      --input_shape="image:16,3,32,32" --output=genet_bs16_tuned --soc_version=Ascend310 --log=error
ATC appends .om to the output name: genet_bs1_tuned.om, genet_bs16_tuned.om.

  --onnx FILE            ONNX model (default: genet_gpu.onnx, written by pthtar2onnx.py)
  --soc SOC              target chip: Ascend310 (default), Ascend310P3 (the 710 card on CANN >= 5.1),
                         Ascend710 (the same card on CANN 5.0.x)
  --bs "1 16"            batch sizes, space- or comma-separated (default: "1 16", as in the guide)
  --tune                 pass --auto_tune_mode="GA" (CANN 5.0.x only: later versions removed the
                         option and tune with the separate AOE tool)
  --log LEVEL            ATC log level: debug, info, warning, error (default), null
  --output-prefix PREFIX output names are PREFIX{bs}_tuned (default: genet_bs)
  --toolkit DIR          CANN install to use (default: see test/env.sh)
  --dry-run              print the commands without running them
  --int8                 quantize with AMCT first (docs/int8.md): preprocess.py --split train --limit N
                         writes calibration images to ./amct_calib_prep, packed into one N-image batch in
                         ./amct_calib; amct_onnx calibration writes ./amct_int8/genet_deploy_model.onnx,
                         which ATC converts (output names default to genet_int8_bs{bs}_tuned)
  --datasets_path DIR    ${datasets_path} of the calibration images (default: ./datasets)
  --calib N              training images to calibrate on (default: 300)
  --help                 this text

CANN's environment is set up through test/env.sh; atc must then be on PATH.
EOF
}

onnx=genet_gpu.onnx soc=Ascend310 batch_list="1 16" tune=0 log=error prefix=""
int8=0 datasets_path=./datasets calib=300
cann_args=()
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --dry-run) export GENET_DRY_RUN=1 ;;
        --*=) genet_die "${1%=} needs a value" ;;
        --tune) tune=1 ;;
        --int8) int8=1 ;;
        --onnx|--soc|--bs|--log|--output-prefix|--output_prefix|--toolkit|--datasets_path|--calib)
            (($# >= 2)) || genet_die "$1 needs a value"
            set -- "$1=$2" "${@:3}"
            continue ;;
        --onnx=*) onnx=${1#*=} ;;
        --soc=*) soc=${1#*=} ;;
        --bs=*) batch_list=${1#*=} ;;
        --log=*) log=${1#*=} ;;
        --output-prefix=*|--output_prefix=*) prefix=${1#*=} ;;
        --toolkit=*) cann_args=(--toolkit "${1#*=}") ;;
        --datasets_path=*) datasets_path=${1#*=} ;;
        --calib=*) calib=${1#*=} ;;
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
[[ "$calib" =~ ^[1-9][0-9]*$ ]] || genet_die "--calib '$calib' is not a positive number of images"
if [[ -z "$prefix" ]]; then
    if ((int8)); then prefix=genet_int8_bs; else prefix=genet_bs; fi
fi

if [[ "${GENET_DRY_RUN:-0}" == 1 ]]; then
    genet_source_cann --optional --dry-run "${cann_args[@]}"
else
    [[ -f "$onnx" ]] || genet_die "$onnx: no such file (export it first: python3 pthtar2onnx.py genet.pth.tar)"
    genet_source_cann --optional "${cann_args[@]}"
    command -v atc >/dev/null 2>&1 ||
        genet_die "atc not found: install the CANN toolkit, or point test/env.sh at it (--toolkit DIR or ASCEND_TOOLKIT_HOME); on a machine without an NPU, skip this step and run the .onnx with ONNX Runtime"
    if ((int8)); then
        command -v amct_onnx >/dev/null 2>&1 ||
            genet_die "amct_onnx not found: --int8 needs AMCT (pip3 install the amct_onnx wheel of the Ascend-cann-amct package of your CANN version, see docs/int8.md); on a CPU, python3 quantize.py makes the int8 .onnx"
    fi
fi

# --- int8: AMCT calibrates on training images, then ATC converts its deploy model ------------------
if ((int8)); then
    calib_prep=amct_calib_prep calib_dir=amct_calib save_path=amct_int8/genet
    genet_run "$(genet_python)" "$genet_root/preprocess.py" "$datasets_path" "$calib_prep" --split train \
        --limit "$calib" --quiet || genet_die "preprocess.py could not write the calibration images (see above)"
    # AMCT reads whole batches of --input_shape from the files of --data_dir: the N images become
    # one N×3×32×32 float32 file, in a folder of its own (val_label.txt is no input).
    printf '+ cat %s/*.bin > %s/calibration.bin\n' "$calib_prep" "$calib_dir"
    if [[ "${GENET_DRY_RUN:-0}" != 1 ]]; then
        mkdir -p "$calib_dir" amct_int8
        cat "$calib_prep"/*.bin > "$calib_dir/.calibration.bin.tmp"
        mv -f "$calib_dir/.calibration.bin.tmp" "$calib_dir/calibration.bin"
    fi
    genet_run amct_onnx calibration --model="$onnx" --save_path="$save_path" \
        --input_shape="image:${calib},3,32,32" --data_dir="$calib_dir" --data_types=float32 ||
        genet_die "amct_onnx calibration failed (its log above says why)"
    onnx="${save_path}_deploy_model.onnx"
    if [[ "${GENET_DRY_RUN:-0}" != 1 ]]; then
        [[ -s "$onnx" ]] || genet_die "amct_onnx reported success but wrote no $onnx"
    fi
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
