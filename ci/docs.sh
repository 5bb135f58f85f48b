#!/usr/bin/env bash
# Builds nearkit's documentation site: ci/docs_site.py assembles the pages (the README, a C
# reference generated from include/nearkit.h, each package's README, docs/, the changelog) and
# MkDocs builds them in strict mode, so any warning fails: a link to a missing page or file, a
# missing anchor, a page left out of the navigation.
#   ci/docs.sh [BUILD_DIR]       the site in BUILD_DIR/docs-site (default: build)
#   ci/docs.sh --install-only    only the MkDocs venv (ci/deps-docs.sh)
# MkDocs runs from its own venv, BUILD_DIR/docs-venv (NEARKIT_DOCS_VENV to choose another),
# made and filled from PyPI when missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install_only=false
if [ "${1:-}" = --install-only ]; then
  install_only=true
  shift
fi
build=$(mkdir -p "${1:-$root/build}" && cd "${1:-$root/build}" && pwd)
venv=${NEARKIT_DOCS_VENV:-$build/docs-venv}
mkdocs_version=1.6.1

if ! "$venv/bin/python" -c "import mkdocs, sys; sys.exit(mkdocs.__version__ != '$mkdocs_version')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-input "mkdocs==$mkdocs_version"
fi
$install_only && exit 0

"$venv/bin/python" "$root/ci/docs_site.py" "$build/docs-src"
"$venv/bin/mkdocs" build --strict --quiet -f "$build/docs-src/mkdocs.yml" -d "$build/docs-site"
echo "ci/docs.sh: the site is in $build/docs-site (index.html)"
