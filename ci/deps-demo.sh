# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install):
# what the demos' end-to-end tests need (node_demo_browser, python_demo_desktop). Idempotent, quiet.
#   - Debian's Chromium and its driver, driven headless by playwright-core from npm, installed
#     globally (node/ keeps no node_modules and no lock file); no browser is ever downloaded.
#   - Xvfb, the X server the desktop demos open their windows on, and the X libraries Qt's xcb
#     platform plugin loads.
#   - PySide6-Essentials (Qt for Python: QtWidgets, QtGui, QtTest), the optional extra
#     nearkit[demo], in the python3 whose packages the ctest venv sees (as ci/deps-python.sh).

nearkit_deps_demo() {
  apt_install chromium chromium-driver xvfb xauth fonts-dejavu-core libxcb-cursor0 \
    libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
    libxcb-xinerama0 libxcb-shape0 libegl1 libgl1 libfontconfig1 libdbus-1-3
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  if [ ! -d "$(npm root --global)/playwright-core" ]; then
    npm install --global --no-audit --no-fund --loglevel=error playwright-core@1 >/dev/null
  fi
  local py=${NEARKIT_PYTHON:-python3}
  if ! "$py" -c 'import PySide6.QtWidgets, PySide6.QtTest' >/dev/null 2>&1; then
    local flags=(-q --disable-pip-version-check --no-input)
    if "$py" -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
      flags+=(--break-system-packages)
    fi
    "$py" -m pip install "${flags[@]}" "PySide6-Essentials>=6.5"
  fi
}
nearkit_deps_demo
