//! Build script of nearkit-sys: compiles nearkit's C core into a static library, links OpenBLAS,
//! and (with the `bindgen` feature) regenerates the raw bindings from the header.
//!
//! The C sources are read from `csrc/include` and `csrc/core` inside this crate. In the repository
//! these are symlinks to `include/` and `core/` at the repository root; `cargo package` follows them,
//! so the published crate carries plain copies and builds without the rest of the repository.
//! Which files are compiled, and any flags a file alone needs, comes from `core/sources.txt`: the
//! list the CMake build reads too (its header describes the format).
//!
//! The core is compiled optimised (`-O3`, as the CMake Release build) whatever the dependent's
//! profile: a debug build of a program using nearkit should not search at `-O0` speed.
//!
//! OpenBLAS is linked statically when its static archive (`libopenblas.a`) is found, so programs
//! need no OpenBLAS at run time, as with nearkit's Python, Java and Node.js packages; else (or with
//! the `dynamic-blas` feature) the shared library is linked. The core has no code path without BLAS.
//!
//! Environment variables (all optional):
//! - `NEARKIT_SYS_OPT_LEVEL`: the C optimisation level (`0`, `1`, `2`, `3`, `s`, `z`). Default `3`.
//! - `NEARKIT_SYS_DOCS_ONLY=1` (and `DOCS_RS`, which docs.rs sets): compile and link no C at all,
//!   for building documentation where no C toolchain or OpenBLAS exists. The committed bindings
//!   are used; nothing built this way can be linked into a program.
//! - `NEARKIT_OPENBLAS_LIB_DIR`: directory holding `libopenblas.a` / `libopenblas.so`. Default: the
//!   first of Debian's `/usr/lib/<multiarch>/openblas-{pthread,openmp,serial}` holding the library,
//!   then `/usr/lib/<multiarch>`, `/usr/local/lib`, `/usr/lib64`, `/usr/lib`, `/opt/OpenBLAS/lib`;
//!   else the linker's default search path.
//! - `NEARKIT_OPENBLAS_INCLUDE_DIR`: directory holding `cblas.h`. Default: the matching
//!   `/usr/include/<multiarch>/openblas-*` directory, else the compiler's default search path.
//! - `NEARKIT_OPENBLAS_LIB`: the library's name without `lib` and extension. Default: `openblas`.
//! - `NEARKIT_OPENBLAS_STATIC`: `1` requires the static archive (an error without it), `0` links
//!   the shared library (as the `dynamic-blas` feature does). Default: static when found.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let include_dir = manifest_dir.join("csrc").join("include");
    let core_dir = manifest_dir.join("csrc").join("core");
    let header = include_dir.join("nearkit.h");
    // For dependents (as DEP_NEARKIT_INCLUDE / DEP_NEARKIT_ROOT, thanks to `links = "nearkit"`).
    println!("cargo:include={}", include_dir.display());
    println!("cargo:root={}", env::var("OUT_DIR").unwrap());

    if docs_only() {
        // The committed bindings are all rustdoc needs; with the `bindgen` feature it still gets
        // fresh ones (docs.rs has libclang).
        #[cfg(feature = "bindgen")]
        generate_bindings(&header);
        return;
    }
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
    let opt_level = c_opt_level();

    // Files with flags of their own are compiled by a build of their own; their objects join the
    // library with the rest.
    let mut build = core_build(&include_dir, &core_dir, &blas, &opt_level);
    for source in &sources {
        if source.flags.is_empty() {
            build.file(&source.path);
        } else {
            let mut own = core_build(&include_dir, &core_dir, &blas, &opt_level);
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
}

/// True when no C is to be compiled or linked: on docs.rs (`DOCS_RS`) or with
/// `NEARKIT_SYS_DOCS_ONLY=1`.
fn docs_only() -> bool {
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    println!("cargo:rerun-if-env-changed=NEARKIT_SYS_DOCS_ONLY");
    env::var_os("DOCS_RS").is_some() || env_flag("NEARKIT_SYS_DOCS_ONLY") == Some(true)
}

/// A yes/no environment variable: `Some(true)` for 1/true/yes/on, `Some(false)` for
/// 0/false/no/off, `None` when unset or empty; anything else is an error.
fn env_flag(name: &str) -> Option<bool> {
    let value = env::var(name).ok()?;
    match value.trim().to_ascii_lowercase().as_str() {
        "" => None,
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        other => panic!("nearkit-sys: {name}={other}: expected 1 or 0"),
    }
}

/// The C optimisation level: `NEARKIT_SYS_OPT_LEVEL`, else 3 (the CMake Release build's), never
/// the dependent profile's (cc's default, `-O0` in a debug build).
fn c_opt_level() -> String {
    println!("cargo:rerun-if-env-changed=NEARKIT_SYS_OPT_LEVEL");
    match env::var("NEARKIT_SYS_OPT_LEVEL") {
        Ok(level) if ["0", "1", "2", "3", "s", "z"].contains(&level.trim()) => level.trim().to_string(),
        Ok(level) if !level.trim().is_empty() => {
            panic!("nearkit-sys: NEARKIT_SYS_OPT_LEVEL={level}: expected 0, 1, 2, 3, s or z")
        }
        _ => "3".to_string(),
    }
}

/// The flags of the CMake build's core objects (root CMakeLists.txt, nearkit_core_objects):
/// C11, NEARKIT_BUILDING and _GNU_SOURCE, hidden visibility; optimised (see `c_opt_level`).
fn core_build(include_dir: &Path, core_dir: &Path, blas: &OpenBlas, opt_level: &str) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .opt_level_str(opt_level)
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
    /// Finds OpenBLAS and decides how to link it: static when the archive is found and neither
    /// the `dynamic-blas` feature nor `NEARKIT_OPENBLAS_STATIC=0` asks for the shared library.
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
        let dynamic_feature = env::var_os("CARGO_FEATURE_DYNAMIC_BLAS").is_some();
        // None: static if the archive is found; Some(true): static or fail; Some(false): shared.
        let wanted = match env_flag("NEARKIT_OPENBLAS_STATIC") {
            Some(choice) => Some(choice),
            None if dynamic_feature => Some(false),
            None => None,
        };
        let archive = format!("lib{name}.a");
        let shared = format!("lib{name}.so");
        let has = |dir: &Path, file: &str| dir.join(file).is_file();

        let multiarch = debian_multiarch();
        // Debian/Ubuntu install OpenBLAS flavours side by side under a multiarch directory; prefer
        // the pthread one, as the C build does: its sgemm is safe to call from several threads at
        // once (the serial flavour is built without locking), and nearkit sets it to one thread.
        let flavours = ["openblas-pthread", "openblas-openmp", "openblas-serial"];
        let mut candidates: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        if let Some(dir) = env::var_os("NEARKIT_OPENBLAS_LIB_DIR") {
            candidates.push((PathBuf::from(dir), None));
        } else {
            if let Some(multiarch) = &multiarch {
                for flavour in flavours {
                    let lib = Path::new("/usr/lib").join(multiarch).join(flavour);
                    let inc = Path::new("/usr/include").join(multiarch).join(flavour);
                    candidates.push((lib, Some(inc)));
                }
                candidates.push((Path::new("/usr/lib").join(multiarch), None));
            }
            for dir in ["/usr/local/lib", "/usr/lib64", "/usr/lib", "/opt/OpenBLAS/lib"] {
                candidates.push((PathBuf::from(dir), None));
            }
        }
        // The first directory with the archive when static linking is possible, else the first
        // with the shared library.
        let chosen =
            if wanted != Some(false) { candidates.iter().find(|(lib, _)| has(lib, &archive)) } else { None };
        let statik = chosen.is_some();
        let chosen = chosen.or_else(|| candidates.iter().find(|(lib, _)| has(lib, &shared)));
        if wanted == Some(true) && !statik {
            panic!(
                "nearkit-sys: NEARKIT_OPENBLAS_STATIC=1 but no {archive} was found (looked in {}); \
                 set NEARKIT_OPENBLAS_LIB_DIR, or install a static OpenBLAS (Debian: \
                 libopenblas-pthread-dev)",
                candidates.iter().map(|(lib, _)| lib.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        if wanted.is_none() && !statik {
            println!(
                "cargo:warning=nearkit-sys: no static {archive} found; linking the shared OpenBLAS \
                 (programs then need it at run time; to link it in, set NEARKIT_OPENBLAS_LIB_DIR to the \
                 directory of a libopenblas.a)"
            );
        }

        let mut include_dir = env::var_os("NEARKIT_OPENBLAS_INCLUDE_DIR").map(PathBuf::from);
        if include_dir.is_none() {
            include_dir = chosen.and_then(|(_, inc)| inc.clone()).filter(|inc| inc.join("cblas.h").is_file());
        }
        // A directory named by the user is searched even when neither file was seen there.
        let lib_dir = chosen
            .map(|(lib, _)| lib.clone())
            .or_else(|| env::var_os("NEARKIT_OPENBLAS_LIB_DIR").map(PathBuf::from));
        OpenBlas { lib_dir, include_dir, name, statik }
    }

    fn emit_link(&self) {
        if let Some(dir) = &self.lib_dir {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        let kind = if self.statik { "static" } else { "dylib" };
        println!("cargo:rustc-link-lib={kind}={}", self.name);
        // A static OpenBLAS built with gfortran (Debian's) holds LAPACK too, which needs the
        // Fortran runtime; nearkit calls only CBLAS and openblas_set_num_threads, so the linker
        // leaves those members out and no libgfortran is needed. OpenBLAS's own threads need
        // pthread, which main() links on every Unix.
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
