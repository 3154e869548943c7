#!/usr/bin/env bash
# The whole pipeline, the guide's steps 3 to 7, in the current folder: a front end of genet.cli.demo (see --help).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh" --helpers

python=$(genet_python)
export PYTHON="$python" GENET_PROG="bash test/eval_acc_perf.sh"
export PYTHONPATH="$genet_root${PYTHONPATH:+:$PYTHONPATH}"
genet_check_python "$python"
# Files go to the current folder, as in the guide (the demo's own default is ./demo_run);
# a --workdir given on the command line comes later and wins.
exec "$python" -m genet.cli.demo --workdir=. "$@"
