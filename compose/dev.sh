#!/usr/bin/env bash
# WarpDrive Governance on one machine, no containers.
#   compose/dev.sh up     install what is missing, start the whole stack, show it working (demo data)
#   compose/dev.sh down   stop everything `up` started
#   compose/dev.sh test   install what is missing, run the whole test suite tier by tier, stop what it started
#   compose/dev.sh setup  only install (Debian packages, Python venv, dashboard build)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
cd "$ROOT"

# Debian packages: FUSE headers for pyfuse3, Java + Maven for the Kafka broker, Chromium for browser tests.
APT_PACKAGES=(libfuse3-dev pkg-config fuse3 gcc openjdk-17-jre-headless maven chromium)

phase_start=0
phase() { phase_start=$(date +%s); echo "==> $*"; }
phase_done() { echo "    ($1 took $(( $(date +%s) - phase_start ))s)"; }

setup() {
  phase "install: Debian packages"
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  phase_done "Debian packages"

  phase "install: Python packages (venv at .venv)"
  [ -x "$PY" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip setuptools wheel
  "$PY" -m pip install -q -e ".[test]"
  phase_done "Python packages"

  if [ -f web/package.json ]; then
    phase "install: dashboard (npm ci + vite build)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
    phase_done "dashboard"
  fi

  phase "install: Kafka broker jars (Maven, cached)"
  "$PY" -c "from warpdrive.compose.stack import kafka_jars; print('   ', kafka_jars(print))"
  phase_done "Kafka jars"

  phase "install: Azurite, the Azure Blob emulator (npm ci, cached)"
  "$PY" -c "from warpdrive.compose.stack import azurite_exe; print('   ', azurite_exe(print))"
  phase_done "Azurite"

  # pjdfstest (the Rust rewrite) for the mount's POSIX tests (tests/agent/test_pjdfstest.py); ~90 s to build once.
  phase "install: pjdfstest (cargo, cached)"
  if ! { pjdfstest --version || "$HOME/.cargo/bin/pjdfstest" --version; } 2>/dev/null | grep -q "^pjdfstest 0.2.2"; then
    command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) for pjdfstest" >&2; exit 1; }
    cargo install pjdfstest --version 0.2.2 --locked --quiet
  fi
  phase_done "pjdfstest"
}

# Everything a test run starts (stacks, component processes, FUSE mounts) is recorded in the run's ledger
# (WARPDRIVE_RUN_LEDGER, see compose/ledger.py) and stopped by id at exit, even when a test failed or the
# run was interrupted. Nothing is ever stopped or unmounted by name or pattern: other runs, stacks and
# mounts on this machine are left alone.
STATE=""
PYTEST_PID=""
run_tests() {
  STATE="$(mktemp -d /tmp/wdci-XXXXXX)"
  local state="$STATE"
  export WARPDRIVE_RUN_LEDGER="$state/ledger"
  cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # An interrupted run: let the running pytest session clean up after itself first (it turns SIGTERM into
    # an interrupt and runs its fixtures' teardown), then stop whatever is still recorded.
    if [ -n "$PYTEST_PID" ] && kill -0 "$PYTEST_PID" 2>/dev/null; then
      kill -TERM "$PYTEST_PID" 2>/dev/null || true
      wait "$PYTEST_PID" 2>/dev/null || true
    fi
    "$VENV/bin/warpdrive" stack reap --ledger "$WARPDRIVE_RUN_LEDGER" || true
    "$VENV/bin/warpdrive" stack down --state-dir "$STATE" >/dev/null 2>&1 || true
    rm -rf "$STATE"
    exit $rc
  }
  trap cleanup EXIT INT TERM

  phase "services: Kafka, PostgreSQL, S3 server, GCS emulator, Azurite"
  local ports; read -r -a ports < <("$PY" -c "from warpdrive.compose.stack import free_port as f; print(f(), f(), f(), f(), f())")
  "$VENV/bin/warpdrive" stack up --infra-only --state-dir "$state" --kafka-port "${ports[0]}" \
    --api-port "${ports[1]}" --s3-port "${ports[2]}" --gcs-port "${ports[3]}" --azure-port "${ports[4]}"
  export WARPDRIVE_TEST_STACK="$state"
  phase_done "services"

  local failed=0 total_start; total_start=$(date +%s)
  local tiers=(
    "unit and in-process|not services and not fuse and not browser"
    "real Kafka + PostgreSQL + object stores|services and not fuse and not browser"
    "real FUSE mounts|fuse and not browser"
    "browser (Chromium)|browser"
  )
  # One pytest session per test folder: each gets its own database and topic prefix, so one
  # component's tests never see another's rows or messages.
  local groups=(tests/test_*.py)
  for d in tests/*/; do [ -n "$(ls "$d"test_*.py 2>/dev/null)" ] && groups+=("${d%/}"); done
  for t in "${tiers[@]}"; do
    local name="${t%%|*}" expr="${t#*|}" tier_start; tier_start=$(date +%s)
    echo "==> tests: $name"
    for g in "${groups[@]}"; do
      local rc=0
      # In the background so the exit trap can interrupt it (bash runs traps only between commands).
      "$VENV/bin/pytest" -q -m "$expr" -p no:cacheprovider "$g" "$@" & PYTEST_PID=$!
      wait "$PYTEST_PID" || rc=$?
      PYTEST_PID=""
      if [ $rc -eq 5 ]; then rc=0; fi  # no test of this tier in this folder
      [ $rc -eq 0 ] || { failed=1; echo "    FAILED: $g ($name)"; }
    done
    echo "    (tier '$name' took $(( $(date +%s) - tier_start ))s)"
  done
  echo "==> all tiers took $(( $(date +%s) - total_start ))s"
  return $failed
}

demo() {
  phase "stack: starting every service"
  "$VENV/bin/warpdrive" stack up
  phase_done "stack up"
  "$VENV/bin/warpdrive" stack demo
}

cmd="${1:-}"; shift || true
case "$cmd" in
  setup) setup ;;
  up) setup; demo ;;
  down) "$VENV/bin/warpdrive" stack down ;;
  test) setup; run_tests "$@" ;;
  *) echo "usage: compose/dev.sh up|down|test|setup" >&2; exit 2 ;;
esac
