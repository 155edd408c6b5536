# Sourced by the other scripts: make sure a virtual environment exists with sqlrecord and
# the Notification API (service/) installed editable, and put it first on PATH.
#   by default: .venv/ (or $SQLRECORD_VENV) with the development extras (tests, lint, types);
#   venv_for=run (set by scripts/run): .venv-run/ (or $SQLRECORD_RUN_VENV) with only what
#   the service needs to run.
# Reinstalls only when a pyproject.toml or constraints.txt changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${venv_for:-dev}" = run ]; then
  VENV="${SQLRECORD_RUN_VENV:-$ROOT/.venv-run}"
  EXTRAS=""  # the service's own dependencies bring sqlrecord's drivers and FastAPI
  WHAT="the Notification API and its dependencies"
else
  VENV="${SQLRECORD_VENV:-$ROOT/.venv}"
  EXTRAS="${SQLRECORD_EXTRAS:-dev,postgres,mysql,fastapi}"
  WHAT="sqlrecord, the Notification API and the development tools"
fi

source "$ROOT/scripts/_python.sh"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating a virtual environment in ${VENV#"$PWD"/}/ ..." >&2
  "$(find_python)" -m venv "$VENV"
fi
stamp="$VENV/.sqlrecord-installed"
wanted="$(cat "$ROOT/pyproject.toml" "$ROOT/service/pyproject.toml" "$ROOT/constraints.txt" |
          cksum)-$EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  if [ -f "$stamp" ]; then
    echo "updating ${VENV#"$PWD"/}/: a pyproject.toml or constraints.txt changed ..." >&2
  else
    echo "installing $WHAT (first run only, under a minute) ..." >&2
  fi
  started=$SECONDS
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" \
    -e "$ROOT${EXTRAS:+[$EXTRAS]}" -e "$ROOT/service"
  echo "$wanted" > "$stamp"
  echo "installed in $((SECONDS - started)) s" >&2
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
