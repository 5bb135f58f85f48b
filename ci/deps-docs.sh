# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install):
# what the documentation site (ci/docs.sh) needs: python3 with venv, and MkDocs in its own venv.
apt_install python3 python3-venv
bash "$here/docs.sh" --install-only
