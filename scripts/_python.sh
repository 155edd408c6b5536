# Sourced by the scripts that make virtual environments: find_python prints a Python
# >= 3.11 ($PYTHON if set and new enough, else the newest on PATH) or fails saying so.
find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "sqlrecord needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}
