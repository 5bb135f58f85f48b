# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install):
# what the Node.js package (node/) needs to build, test and pack. Idempotent and quiet.
#   - Node.js with npm (npm bundles node-gyp); the machine image may already have a newer Node.js
#     (e.g. NodeSource's), which is kept. Otherwise Debian's nodejs 18 + npm.
#   - The Node.js headers, used offline by node-gyp (--nodedir): NodeSource's nodejs ships them in
#     /usr/include/node; Debian's are in libnode-dev.
#   - A C toolchain, make, python3 (node-gyp), cmake/ninja and OpenBLAS for the core (also in
#     ci/deps.sh's core list; repeated here so this file stands alone).
#   - TypeScript 5.2 or later (node/package.json's devDependency, installed globally here, so
#     node/ needs no npm install and no lock file): type-checks index.d.ts in node_types.

nearkit_deps_node() {
  if ! command -v node >/dev/null 2>&1; then
    apt_install nodejs npm
  elif ! command -v npm >/dev/null 2>&1; then
    apt_install npm
  fi
  local prefix
  prefix=$(node -p "require('path').resolve(process.execPath, '..', '..')")
  if [ ! -f "$prefix/include/node/node_api.h" ] && [ ! -f /usr/include/node/node_api.h ]; then
    apt_install libnode-dev
  fi
  if [ ! -f "$prefix/include/node/common.gypi" ] && [ ! -f /usr/include/node/common.gypi ]; then
    echo "ci/deps-node.sh: no Node.js headers with common.gypi found for $(command -v node)" >&2
    return 1
  fi
  apt_install build-essential make python3 cmake ninja-build libopenblas-pthread-dev tar
  # 5.2 or later: the declarations' `[Symbol.dispose]` and the README's `using` (node_types)
  if ! command -v tsc >/dev/null 2>&1 || ! tsc --version | grep -Eq 'Version (5\.([2-9]|[1-9][0-9])|[6-9]|[1-9][0-9])\.'; then
    npm install --global --no-audit --no-fund --loglevel=error typescript@5 >/dev/null
  fi
  node --version >/dev/null
  npm --version >/dev/null
}

nearkit_deps_node
