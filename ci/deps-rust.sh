# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install):
# what the Rust crates (rust/) need to build, test and package. Idempotent and quiet.
#   - Rust >= 1.74 with cargo, clippy and rustfmt. The machine image installs them with rustup
#     (~/.cargo/bin, kept); without them we stop with a message, as Debian 12's own rustc (1.63)
#     is too old for the crates.
#   - A C toolchain and OpenBLAS for the C core that nearkit-sys compiles (also in ci/deps.sh's
#     core list; repeated here so this file stands alone).
#   - libclang (Debian's libclang-dev) for the `bindgen` feature and the test that compares the
#     committed bindings with bindgen's output.
#   - The crates of rust/Cargo.toml (cc, serde_json, bindgen, ...), fetched ahead of the tests.

nearkit_deps_rust() {
  local here_rust
  here_rust=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  apt_install build-essential libopenblas-pthread-dev libclang-dev

  if ! command -v cargo >/dev/null 2>&1; then
    local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    if [ -x "$cargo_bin/cargo" ]; then
      export PATH="$cargo_bin:$PATH"
    else
      echo "ci/deps-rust.sh: cargo not found: install Rust 1.74 or newer with rustup" >&2
      return 1
    fi
  fi
  local version minor
  version=$(rustc --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\).*/\1/p')
  minor=${version#1.}
  if [ -z "$version" ] || [ "${version%%.*}" != 1 ] || [ "$minor" -lt 74 ]; then
    echo "ci/deps-rust.sh: rustc $version is too old: the crates need 1.74 or newer" >&2
    return 1
  fi
  local component
  for component in clippy fmt; do
    if ! cargo "$component" --version >/dev/null 2>&1; then
      if command -v rustup >/dev/null 2>&1; then
        rustup component add "$([ "$component" = fmt ] && echo rustfmt || echo clippy)" >/dev/null 2>&1 || true
      fi
      cargo "$component" --version >/dev/null 2>&1 || {
        echo "ci/deps-rust.sh: cargo $component is missing (rustup component add ${component/fmt/rustfmt})" >&2
        return 1
      }
    fi
  done
  # Download the crates now, so a registry problem shows up here rather than in a test.
  (cd "$here_rust/rust" && cargo fetch --quiet)
}

nearkit_deps_rust
