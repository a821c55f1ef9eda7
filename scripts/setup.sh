#!/usr/bin/env bash
# Create .venv (if missing) and install the project into it, editable, with the extras given
# as arguments (e.g. `scripts/setup.sh test`). Safe to run again: pip skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
extras=""
if [ $# -gt 0 ]; then extras="[$(IFS=,; echo "$*")]"; fi
.venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import posecog.cog.cli" # fail here, clearly, if the install did not work
# The MQTT tests run a real broker (tests/fakes/broker.py): Debian's mosquitto, not on a fresh
# machine. Installed here (CI runs as root); without root or apt, say what is missing.
case " $* " in *" test "*) wants_broker=1 ;; *) wants_broker=0 ;; esac
if [ "$wants_broker" = 1 ] && ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
  else
    echo "setup.sh: the tests need mosquitto (apt-get install mosquitto, as root)" >&2
    exit 1
  fi
fi
