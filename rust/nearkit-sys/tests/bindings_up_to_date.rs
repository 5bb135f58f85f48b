//! Checks that the committed `src/bindings.rs` is exactly what bindgen makes of the current
//! `csrc/include/nearkit.h` (the repository's `include/nearkit.h`).
//!
//! Runs only with the `bindgen` feature, which needs libclang (Debian: `apt-get install
//! libclang-dev`):
//!
//! ```text
//! cargo test -p nearkit-sys --features bindgen --test bindings_up_to_date
//! ```
//!
//! After a deliberate header change, regenerate the committed file with
//! `NEARKIT_SYS_BLESS=1 cargo test -p nearkit-sys --features bindgen --test bindings_up_to_date`.
#![cfg(feature = "bindgen")]

use std::path::Path;

#[test]
fn committed_bindings_match_the_header() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/bindings.rs"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("bindings.rs");
    let committed =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if generated == committed {
        return;
    }
    if std::env::var_os("NEARKIT_SYS_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("rewrote {}", path.display());
        return;
    }
    let first_difference = generated
        .lines()
        .zip(committed.lines())
        .enumerate()
        .find(|(_, (g, c))| g != c)
        .map(|(i, (g, c))| format!("line {}:\n  bindgen:   {g}\n  committed: {c}", i + 1))
        .unwrap_or_else(|| {
            format!(
                "the files differ in length ({} vs {} lines)",
                generated.lines().count(),
                committed.lines().count()
            )
        });
    panic!(
        "{} is out of date with include/nearkit.h; first difference at {first_difference}\n\
         Regenerate it with: NEARKIT_SYS_BLESS=1 cargo test -p nearkit-sys --features bindgen \
         --test bindings_up_to_date",
        path.display()
    );
}
