# Sourced by tools/dist_train.sh, dist_test.sh and slurm_train.sh (HERE = tools/):
# the interpreter that runs mmscratch. PYTHON wins; else the repo's .venv (what
# `make install` / `make demo` create), so the launchers work without activating
# it; else python on PATH.
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$HERE/../.venv/bin/python" ]; then
    PYTHON="$HERE/../.venv/bin/python"
  else
    PYTHON=python
  fi
fi
