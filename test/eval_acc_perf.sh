#!/usr/bin/env bash
# The whole pipeline, seed steps 3 to 7, in the current folder: a front end of genet.demo (see --help).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$here/env.sh" --helpers

python=$(genet_python)
export PYTHON="$python" GENET_PROG=eval_acc_perf.sh
export PYTHONPATH="$genet_root${PYTHONPATH:+:$PYTHONPATH}"
"$python" -c 'import genet.demo' 2>/dev/null ||
    genet_die "$python cannot import genet: install the requirements (python3 -m venv .venv && .venv/bin/pip install -r requirements.txt -e .) or set PYTHON to a Python that has them"
# Files go to the current folder, as in the seed guide (genet.demo's own default is ./demo_run);
# a --workdir given on the command line comes later and wins.
exec "$python" -m genet.demo --workdir=. "$@"
