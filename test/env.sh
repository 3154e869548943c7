#!/usr/bin/env bash
# The environment of the scripts in test/: Huawei's CANN toolkit (ATC, the benchmark tool's
# libraries) and the Python that runs this repository's scripts.
#
#   source test/env.sh [--quiet] [--toolkit DIR]   set up the current shell
#   bash test/env.sh [--dry-run] [--toolkit DIR]   only report what would be used
#
# CANN is looked for at --toolkit DIR, $ASCEND_TOOLKIT_HOME, $ASCEND_HOME_PATH, then the default
# install paths (/usr/local/Ascend/ascend-toolkit, ~/Ascend/ascend-toolkit, /usr/local/Ascend/nnrt):
# its set_env.sh when it has one (CANN >= 5.1), else the variables the guide exports by
# hand for CANN 5.0.x (atc/bin, acllib/lib64, opp under .../ascend-toolkit/latest).
#
# The other scripts run `source test/env.sh --helpers` for the functions below (genet_python,
# genet_run, ...), then call genet_source_cann themselves where they need CANN.

genet_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
genet_default_homes=(/usr/local/Ascend/ascend-toolkit "$HOME/Ascend/ascend-toolkit" /usr/local/Ascend/nnrt)

# The Python that runs the repository's scripts: $PYTHON, else this checkout's .venv, else python3.
genet_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        printf '%s\n' "$PYTHON"
    elif [[ -x "$genet_root/.venv/bin/python" ]]; then
        printf '%s\n' "$genet_root/.venv/bin/python"
    else
        printf '%s\n' python3
    fi
}

genet_die() {
    printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
    exit 2
}

genet_note() {
    printf '%s: %s\n' "$(basename "$0")" "$*" >&2
}

# A command as it can be pasted back into a shell.
genet_quote() {
    local arg sep=""
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
            printf '%s%s' "$sep" "$arg"
        else
            printf '%s%q' "$sep" "$arg"
        fi
        sep=" "
    done
}

# The command genet_run is waiting for, and what a signal to this script does to it: it is passed on
# (as SIGTERM: a background command ignores SIGINT), so that no tool outlives the script.
genet_child=""
genet_stop() {
    if [[ -n "$genet_child" ]]; then
        kill -TERM "$genet_child" 2>/dev/null || true
        wait "$genet_child" 2>/dev/null || true
    fi
    exit "$1"
}

# Print a command; run it unless GENET_DRY_RUN=1.
genet_run() {
    printf '+ %s\n' "$(genet_quote "$@")"
    [[ "${GENET_DRY_RUN:-0}" != 1 ]] || return 0
    local status=0
    "$@" &
    genet_child=$!
    wait "$genet_child" || status=$?
    genet_child=""
    return "$status"
}

# A space- or comma-separated list of batch sizes, checked; one per line on stdout.
genet_batch_sizes() {
    local bs count=0
    for bs in ${1//,/ }; do
        [[ "$bs" =~ ^[1-9][0-9]*$ ]] || genet_die "batch size '$bs' is not a positive integer (--bs \"1 16\")"
        printf '%s\n' "$bs"
        count=$((count + 1))
    done
    ((count)) || genet_die "--bs '$1': no batch size given (--bs \"1 16\")"
}

# Stop with one line when the scripts' Python is missing or lacks a requirement (genet.core.launch says what to do).
genet_check_python() {
    local python=$1 message
    command -v "$python" >/dev/null 2>&1 ||
        genet_die "no Python '$python': activate the project's environment (source .venv/bin/activate) or set PYTHON"
    message=$(PYTHONPATH="$genet_root${PYTHONPATH:+:$PYTHONPATH}" "$python" -c '
import sys
from genet.core.launch import check_requirements
missing = check_requirements()
if missing:
    print(missing)
    sys.exit(2)' 2>&1) || genet_die "${message##*$'\n'}"
}

# Where CANN may be installed, in the order looked at (--toolkit folders first).
genet_cann_homes() {
    local home
    for home in "$@" "${ASCEND_TOOLKIT_HOME:-}" "${ASCEND_HOME_PATH:-}" "${genet_default_homes[@]}"; do
        [[ -n "$home" ]] && printf '%s\n' "$home"
    done
}

# set_env.sh (or a 5.0.x install folder) of the first CANN found; empty when there is none.
genet_find_cann() {
    local home candidate
    while IFS= read -r home; do
        for candidate in "$home/set_env.sh" "$home/../set_env.sh" "$home/latest/set_env.sh"; do
            if [[ -f "$candidate" ]]; then
                printf '%s\n' "$candidate"
                return
            fi
        done
        for candidate in "$home" "$home/latest"; do
            if [[ -x "$candidate/atc/bin/atc" ]]; then
                printf '%s\n' "$candidate"
                return
            fi
        done
    done < <(genet_cann_homes "$@")
}

# The guide's exports for CANN 5.0.x, which ships no set_env.sh.
genet_export_cann50() {
    local install_path=$1
    export PATH="$install_path/atc/ccec_compiler/bin:$install_path/atc/bin:$PATH"
    export PYTHONPATH="$install_path/atc/python/site-packages${PYTHONPATH:+:$PYTHONPATH}"
    export LD_LIBRARY_PATH="$install_path/atc/lib64:$install_path/acllib/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export ASCEND_OPP_PATH="$install_path/opp"
    export ASCEND_AICPU_PATH="$install_path"
}

# Set up CANN in the current shell. Options: --quiet, --optional (no CANN is not an error),
# --dry-run (say what would be sourced), --toolkit DIR. Returns 1 when no CANN was found.
genet_source_cann() {
    local quiet=0 optional=0 dry_run=0 toolkit=() found had_u=0
    while (($#)); do
        case $1 in
            --quiet) quiet=1 ;;
            --optional) optional=1 ;;
            --dry-run) dry_run=1 ;;
            --toolkit|--toolkit=)
                [[ $1 == --toolkit && -n "${2:-}" && $2 != -* ]] || { printf 'env.sh: error: --toolkit needs a folder\n' >&2; return 2; }
                toolkit=("$2"); shift ;;
            --toolkit=*) toolkit=("${1#--toolkit=}") ;;
            *) printf 'env.sh: error: unknown option %s\n' "$1" >&2; return 2 ;;
        esac
        shift
    done
    found=$(genet_find_cann "${toolkit[@]}")
    if [[ -z "$found" ]]; then
        if command -v atc >/dev/null 2>&1; then
            ((quiet)) || printf 'env.sh: no CANN set_env.sh found; atc is already on PATH (%s): using the current environment\n' "$(command -v atc)" >&2
            return 0
        fi
        ((quiet && optional)) || printf 'env.sh: no CANN toolkit found (looked in %s): ATC and the Ascend benchmark tool are unavailable; without an NPU, run the pipeline with ONNX Runtime (bash test/eval_acc_perf.sh --backend=onnxruntime)\n' \
            "$(genet_cann_homes "${toolkit[@]}" | paste -sd, - | sed 's/,/, /g')" >&2
        ((optional)) && return 0
        return 1
    fi
    if [[ "$found" == *.sh ]]; then
        ((quiet)) || printf 'env.sh: source %s\n' "$found" >&2
        ((dry_run)) && return 0
        # CANN's scripts read unset variables: relax -u while they run.
        [[ $- == *u* ]] && had_u=1
        set +u
        # shellcheck disable=SC1090
        source "$found"
        ((had_u)) && set -u
    else
        ((quiet)) || printf 'env.sh: CANN 5.0.x layout at %s: exporting the guide'"'"'s variables\n' "$found" >&2
        ((dry_run)) || genet_export_cann50 "$found"
    fi
    return 0
}

genet_env_usage() {
    cat <<'EOF'
usage: source test/env.sh [--quiet] [--toolkit DIR]
       bash test/env.sh [--dry-run] [--quiet] [--toolkit DIR]

Find Huawei's CANN toolkit and set up its environment (PATH, LD_LIBRARY_PATH, PYTHONPATH,
ASCEND_* variables) for ATC and the Ascend benchmark tool. Sourced, it changes the current
shell; run with bash, it only reports what it finds (the environment of a child process
does not outlive it).

  --toolkit DIR  look here first (an ascend-toolkit or ascend-toolkit/latest folder)
  --dry-run      say which set_env.sh would be sourced, without sourcing it
  --quiet        no messages
  --help         this text

Looked at, in order: --toolkit, $ASCEND_TOOLKIT_HOME, $ASCEND_HOME_PATH,
/usr/local/Ascend/ascend-toolkit, ~/Ascend/ascend-toolkit, /usr/local/Ascend/nnrt.
Also reports the Python the scripts use: $PYTHON, else ./.venv/bin/python, else python3.
EOF
}

genet_env_main() {
    local args=() arg
    for arg in "$@"; do
        case $arg in
            -h|--help) genet_env_usage; return 0 ;;
            *) args+=("$arg") ;;
        esac
    done
    genet_source_cann "${args[@]}" || return $?
    printf 'python: %s\n' "$(genet_python)"
    if command -v atc >/dev/null 2>&1; then
        printf 'atc: %s\n' "$(command -v atc)"
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    # Run as a script. (When sourced, the caller's shell options are left alone: -e in an
    # interactive shell would close it at the first failing command.)
    set -euo pipefail
    genet_env_main "$@"
else
    case "${1:-}" in
        --helpers)        # sourced by the other scripts of test/ for the functions only
            trap 'genet_stop 130' INT
            trap 'genet_stop 143' TERM
            trap 'genet_stop 129' HUP ;;
        -h|--help) genet_env_usage ;;
        *) genet_source_cann "$@" ;;
    esac
fi
