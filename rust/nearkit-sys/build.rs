//! Build script of nearkit-sys: compiles nearkit's C core into a static library, links OpenBLAS,
//! and (with the `bindgen` feature) regenerates the raw bindings from the header.
//!
//! The C sources are read from `csrc/include` and `csrc/core` inside this crate. In the repository
//! these are symlinks to `include/` and `core/` at the repository root; `cargo package` follows them,
//! so the published crate carries plain copies and builds without the rest of the repository.
//! Which files are compiled, and any flags a file alone needs, comes from `core/sources.txt`: the
//! list the CMake build reads too (its header describes the format).
//!
//! Environment variables (all optional):
//! - `NEARKIT_OPENBLAS_LIB_DIR`: directory holding `libopenblas.so` / `libopenblas.a`. Default: the
//!   first of Debian's `/usr/lib/<multiarch>/openblas-{pthread,openmp,serial}` that exists, else the
//!   linker's default search path.
//! - `NEARKIT_OPENBLAS_INCLUDE_DIR`: directory holding `cblas.h`. Default: the matching
//!   `/usr/include/<multiarch>/openblas-*` directory, else the compiler's default search path.
//! - `NEARKIT_OPENBLAS_LIB`: the library's name without `lib` and extension. Default: `openblas`.
//! - `NEARKIT_OPENBLAS_STATIC=1`: link the static archive instead of the shared library.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let include_dir = manifest_dir.join("csrc").join("include");
    let core_dir = manifest_dir.join("csrc").join("core");
    let header = include_dir.join("nearkit.h");
    if !header.is_file() || !core_dir.is_dir() {
        panic!(
            "nearkit-sys: the C sources are missing: expected {} and {}. In the repository these are \
             symlinks to the repository's include/ and core/ (made by git on checkout; where git \
             makes no symlinks, copy those two directories there).",
            header.display(),
            core_dir.display()
        );
    }

    // First, so a header change shows up in the bindings even while the C core does not build.
    #[cfg(feature = "bindgen")]
    generate_bindings(&header);

    let source_list = core_dir.join("sources.txt");
    let sources = read_source_list(&source_list, &core_dir);
    println!("cargo:rerun-if-changed={}", include_dir.display());
    println!("cargo:rerun-if-changed={}", core_dir.display());
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-changed={}", source_list.display());
    for file in files_with_extensions(&core_dir, &["c", "h"]) {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let blas = OpenBlas::locate();

    // Files with flags of their own are compiled by a build of their own; their objects join the
    // library with the rest.
    let mut build = core_build(&include_dir, &core_dir, &blas);
    for source in &sources {
        if source.flags.is_empty() {
            build.file(&source.path);
        } else {
            let mut own = core_build(&include_dir, &core_dir, &blas);
            own.file(&source.path);
            for flag in &source.flags {
                own.flag(flag);
            }
            build.objects(own.compile_intermediates());
        }
    }
    build.compile("nearkit");

    blas.emit_link();
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "windows" {
        println!("cargo:rustc-link-lib=pthread");
        println!("cargo:rustc-link-lib=m");
    }

    // For dependents (as DEP_NEARKIT_INCLUDE / DEP_NEARKIT_ROOT, thanks to `links = "nearkit"`).
    println!("cargo:include={}", include_dir.display());
    println!("cargo:root={}", env::var("OUT_DIR").unwrap());
}

/// The flags of the CMake build's core objects (root CMakeLists.txt, nearkit_core_objects):
/// C11, NEARKIT_BUILDING and _GNU_SOURCE, hidden visibility.
fn core_build(include_dir: &Path, core_dir: &Path, blas: &OpenBlas) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .include(include_dir)
        .include(core_dir)
        .std("c11")
        .define("NEARKIT_BUILDING", None)
        .define("_GNU_SOURCE", None)
        .warnings(false)
        .flag_if_supported("-fvisibility=hidden")
        .flag_if_supported("-pthread");
    if env::var("PROFILE").as_deref() == Ok("release") {
        build.define("NDEBUG", None);
    }
    if let Some(dir) = &blas.include_dir {
        build.include(dir);
    }
    build
}

/// A C file of the core and the compile flags it alone needs, from one line of `sources.txt`.
struct CoreSource {
    path: PathBuf,
    flags: Vec<String>,
}

/// Reads `core/sources.txt`: per line a path relative to `core/`, then optional flags, separated
/// by blanks; blank lines and `#` comments are skipped. Every listed file must exist.
fn read_source_list(list: &Path, core_dir: &Path) -> Vec<CoreSource> {
    let text = fs::read_to_string(list).unwrap_or_else(|e| {
        panic!("nearkit-sys: cannot read the core's source list {}: {e}", list.display())
    });
    let mut sources = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let path = core_dir.join(words.next().expect("a non-empty line has a first word"));
        if !path.is_file() {
            panic!("nearkit-sys: {} names {}, which does not exist", list.display(), path.display());
        }
        sources.push(CoreSource { path, flags: words.map(String::from).collect() });
    }
    if sources.is_empty() {
        panic!("nearkit-sys: {} lists no C sources", list.display());
    }
    sources
}

fn files_with_extensions(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().and_then(|x| x.to_str()).is_some_and(|x| exts.contains(&x)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

struct OpenBlas {
    lib_dir: Option<PathBuf>,
    include_dir: Option<PathBuf>,
    name: String,
    statik: bool,
}

impl OpenBlas {
    fn locate() -> OpenBlas {
        for var in [
            "NEARKIT_OPENBLAS_LIB_DIR",
            "NEARKIT_OPENBLAS_INCLUDE_DIR",
            "NEARKIT_OPENBLAS_LIB",
            "NEARKIT_OPENBLAS_STATIC",
        ] {
            println!("cargo:rerun-if-env-changed={var}");
        }
        let name = env::var("NEARKIT_OPENBLAS_LIB").unwrap_or_else(|_| "openblas".to_string());
        let statik = env::var("NEARKIT_OPENBLAS_STATIC").is_ok_and(|v| v == "1" || v == "true");
        let mut lib_dir = env::var_os("NEARKIT_OPENBLAS_LIB_DIR").map(PathBuf::from);
        let mut include_dir = env::var_os("NEARKIT_OPENBLAS_INCLUDE_DIR").map(PathBuf::from);

        // Debian/Ubuntu install OpenBLAS flavours side by side under a multiarch directory; prefer
        // the pthread one, as the C build does: its sgemm is safe to call from several threads at
        // once (the serial flavour is built without locking), and nearkit sets it to one thread.
        if let Some(multiarch) = debian_multiarch() {
            for flavour in ["openblas-pthread", "openblas-openmp", "openblas-serial"] {
                let lib = Path::new("/usr/lib").join(&multiarch).join(flavour);
                let ext = if statik { "a" } else { "so" };
                if lib_dir.is_none() && lib.join(format!("lib{name}.{ext}")).is_file() {
                    lib_dir = Some(lib);
                    let inc = Path::new("/usr/include").join(&multiarch).join(flavour);
                    if include_dir.is_none() && inc.join("cblas.h").is_file() {
                        include_dir = Some(inc);
                    }
                    break;
                }
            }
        }
        OpenBlas { lib_dir, include_dir, name, statik }
    }

    fn emit_link(&self) {
        if let Some(dir) = &self.lib_dir {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        let kind = if self.statik { "static" } else { "dylib" };
        println!("cargo:rustc-link-lib={kind}={}", self.name);
        if self.statik {
            // A static OpenBLAS built with gfortran (Debian's) may need its runtime for LAPACK
            // parts; nearkit only calls CBLAS, so the linker leaves those members out.
            println!("cargo:rustc-link-lib=pthread");
        }
    }
}

/// Debian's multiarch tuple for the target, e.g. "x86_64-linux-gnu"; None off Linux/glibc.
fn debian_multiarch() -> Option<String> {
    let os = env::var("CARGO_CFG_TARGET_OS").ok()?;
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || target_env != "gnu" {
        return None;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").ok()?;
    let tuple = match arch.as_str() {
        "x86" => "i386-linux-gnu".to_string(),
        "arm" => "arm-linux-gnueabihf".to_string(),
        "powerpc64" => {
            let endian = env::var("CARGO_CFG_TARGET_ENDIAN").unwrap_or_default();
            if endian == "little" {
                "powerpc64le-linux-gnu".to_string()
            } else {
                "powerpc64-linux-gnu".to_string()
            }
        }
        other => format!("{other}-linux-gnu"),
    };
    Some(tuple)
}

/// Runs bindgen over the header, writing `$OUT_DIR/bindings.rs`. Only `nearkit_*` functions and
/// types and `NEARKIT_*` constants are kept; the macro constants get the header's typedefs, so
/// `NEARKIT_ERR_IO` is a `nearkit_status` and `NEARKIT_METRIC_L2` a `nearkit_metric`.
#[cfg(feature = "bindgen")]
fn generate_bindings(header: &Path) {
    use bindgen::callbacks::{IntKind, ParseCallbacks};

    #[derive(Debug)]
    struct TypedConstants;

    impl ParseCallbacks for TypedConstants {
        fn int_macro(&self, name: &str, _value: i64) -> Option<IntKind> {
            let typedef = if name == "NEARKIT_OK" || name.starts_with("NEARKIT_ERR_") {
                "nearkit_status"
            } else if name.starts_with("NEARKIT_METRIC_") {
                "nearkit_metric"
            } else if name.starts_with("NEARKIT_VECTOR_") {
                "nearkit_vector_type"
            } else if name.starts_with("NEARKIT_KIND_FLAG_") || name.starts_with("NEARKIT_PARAM_FLAG_") {
                return Some(IntKind::U32);
            } else if name.starts_with("NEARKIT_KIND_") {
                "nearkit_kind"
            } else {
                // Versions: compared with the uint32_t that nearkit_abi_version() returns.
                return Some(IntKind::U32);
            };
            Some(IntKind::Custom { name: typedef, is_signed: true })
        }

        // The header's comments are plain text, not Markdown: fence those that Markdown would
        // mangle (line layout, brackets, angle brackets) so rustdoc shows them verbatim and
        // never takes an indented line for a doctest.
        fn process_comment(&self, comment: &str) -> Option<String> {
            if comment.contains(['\n', '[', ']', '<', '>', '`']) {
                let body: Vec<&str> = comment.lines().map(str::trim_end).collect();
                Some(format!("```text\n{}\n```", body.join("\n")))
            } else {
                None
            }
        }
    }

    let bindings = bindgen::Builder::default()
        .header(header.to_str().expect("header path is not UTF-8"))
        .allowlist_function("nearkit_.*")
        .allowlist_type("nearkit_.*")
        .allowlist_var("NEARKIT_.*")
        .parse_callbacks(Box::new(TypedConstants))
        // The committed bindings must build on every target: no target-specific layout asserts.
        .layout_tests(false)
        .derive_default(false)
        .derive_debug(true)
        .derive_copy(true)
        .size_t_is_usize(true)
        .use_core()
        .generate_comments(true)
        // The header's doc comments are plain /* */ blocks: let clang attach them anyway.
        .clang_arg("-fparse-all-comments")
        // The experimental API too (nearkit_index_tune, ...): the safe crate wraps what it needs.
        .clang_arg("-DNEARKIT_EXPERIMENTAL")
        // Match the workspace's rust-version (plain `extern "C"` blocks).
        .rust_target(bindgen::RustTarget::stable(74, 0).expect("rust target"))
        .formatter(bindgen::Formatter::Prettyplease)
        .generate()
        .expect("bindgen failed on nearkit.h");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(&out).expect("cannot write bindings.rs");
}
