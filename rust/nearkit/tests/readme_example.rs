//! The README's example is `examples/readme.rs` (which the `rust_example` ctest runs): the two stay
//! equal, so the example a user reads first is the one that is built and run.

use std::fs;
use std::path::Path;

#[test]
fn readme_example_is_examples_readme_rs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(dir.join("README.md")).expect("README.md");
    let start = readme.find("```rust\n").expect("README.md has a ```rust block") + "```rust\n".len();
    let len = readme[start..].find("```").expect("the ```rust block ends");
    let block = &readme[start..start + len];

    let example = fs::read_to_string(dir.join("examples").join("readme.rs")).expect("examples/readme.rs");
    // The example's leading comment lines say where it comes from; the rest is the README's code.
    let code: String =
        example.lines().skip_while(|l| l.starts_with("//")).map(|l| format!("{l}\n")).collect();
    assert_eq!(code, block, "examples/readme.rs differs from README.md's example: copy one to the other");
}
