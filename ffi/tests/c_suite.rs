//! Builds and runs the C side of the ABI: header checks (strict C99, C++11, two translation
//! units), the API suite (`tests/c/test_api.c`), the corpus suite (`tests/c/test_corpus.c`) and
//! the examples (`examples/*.c`, one linked against the static library).
//!
//! C code is compiled with `-Wall -Wextra -Werror -pedantic`. `OT_FFI_CHECKER` selects a memory
//! checker for the C programs: `valgrind` (errors and definite leaks fail the test), `asan`
//! (AddressSanitizer + UBSan), or unset for none. `OPENTRAIL_CORPUS` points at the corpus folder
//! (default: `<workspace>/../shared/corpus`). `CC` / `CXX` choose the compilers. Under a checker
//! the library is rebuilt with the system allocator (see [`library_dir`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Libraries the static library needs on Linux (`rustc --print native-static-libs`).
const NATIVE_STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: the test binary lives in `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the cdylib and staticlib (cargo test builds only the rlib) once per test process.
/// Under a memory checker the library is built with the system allocator
/// (`--no-default-features`, no mimalloc), so valgrind and ASan see every allocation the
/// library makes and a leak or misuse inside it fails the suite.
fn library_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = profile_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "opentrail-ffi", "--lib", "--manifest-path"])
            .arg(crate_dir().join("Cargo.toml"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if checker() != Checker::None {
            cmd.arg("--no-default-features");
        }
        run(&mut cmd, "cargo build -p opentrail-ffi");
        assert!(
            dir.join("libopentrail_ffi.so").exists(),
            "no cdylib in {}",
            dir.display()
        );
        dir
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Checker {
    None,
    Valgrind,
    Asan,
}

fn checker() -> Checker {
    match std::env::var("OT_FFI_CHECKER").as_deref() {
        Ok("valgrind") => Checker::Valgrind,
        Ok("asan") => Checker::Asan,
        Ok("") | Ok("none") | Err(_) => Checker::None,
        Ok(other) => panic!("OT_FFI_CHECKER={other}: expected valgrind, asan or none"),
    }
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(out.status.success(), "{what} failed: {}", out.status);
    stdout
}

/// Compiles `sources` into `out` with warnings as errors.
fn compile(sources: &[&str], out: &Path, cpp: bool, extra: &[&str], static_link: bool) {
    let lib = library_dir();
    let compiler = if cpp {
        std::env::var("CXX").unwrap_or_else(|_| "c++".into())
    } else {
        std::env::var("CC").unwrap_or_else(|_| "cc".into())
    };
    let mut cmd = Command::new(compiler);
    cmd.args([
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-g",
        "-O1",
        "-pthread",
    ])
    .arg("-I")
    .arg(crate_dir().join("include"))
    .arg("-I")
    .arg(crate_dir().join("tests/c"))
    .args(extra);
    if checker() == Checker::Asan {
        cmd.args(["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]);
    }
    for s in sources {
        cmd.arg(crate_dir().join(s));
    }
    cmd.arg("-o").arg(out);
    if static_link {
        cmd.arg(lib.join("libopentrail_ffi.a"))
            .args(NATIVE_STATIC_LIBS);
    } else {
        cmd.arg("-L")
            .arg(lib)
            .arg("-lopentrail_ffi")
            .arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    cmd.arg("-lz");
    run(&mut cmd, &format!("compile {sources:?}"));
}

/// Runs a built C program under the selected checker.
fn exec(program: &Path, args: &[&Path]) -> String {
    let mut cmd = match checker() {
        Checker::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "--quiet",
                "--error-exitcode=97",
                "--leak-check=full",
                "--show-leak-kinds=definite",
                "--errors-for-leak-kinds=definite",
            ])
            .arg(program);
            c
        }
        _ => Command::new(program),
    };
    cmd.args(args);
    if checker() == Checker::Asan {
        cmd.env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1");
    }
    run(&mut cmd, &program.display().to_string())
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("OPENTRAIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("../../shared/corpus"))
}

/// Corpus lines minus the refusals listed in `tests/data/corpus_refused.txt`.
fn expected_accepted(corpus: &Path) -> usize {
    let text = std::fs::read(corpus).expect("read corpus");
    let lines = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let refused = std::fs::read_to_string(crate_dir().join("tests/data/corpus_refused.txt"))
        .expect("read corpus_refused.txt");
    let refused = refused
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    lines - refused
}

#[test]
fn header_compiles_as_c99_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("header_c99");
    compile(&["tests/c/header_c99.c"], &exe, false, &["-std=c99"], false);
    exec(&exe, &[]);
}

#[test]
fn header_compiles_as_cpp_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("header_cpp");
    compile(
        &["tests/c/header_cpp.cc"],
        &exe,
        true,
        &["-std=c++11"],
        false,
    );
    exec(&exe, &[]);
}

#[test]
fn header_in_two_translation_units() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("double_include");
    let tus = ["tests/c/double_include_a.c", "tests/c/double_include_b.c"];
    compile(&tus, &exe, false, &["-std=c99"], false);
    exec(&exe, &[]);
}

#[test]
fn c_api_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("test_api");
    let defs = ["-std=c11", "-D_XOPEN_SOURCE=700", "-D_DEFAULT_SOURCE"];
    compile(&["tests/c/test_api.c"], &exe, false, &defs, false);
    let out = exec(&exe, &[]);
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn c_corpus_suite() {
    let corpus = corpus_dir().join("records.jsonl");
    assert!(
        corpus.exists(),
        "corpus not found at {} (set OPENTRAIL_CORPUS)",
        corpus.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("test_corpus");
    let defs = ["-std=c11", "-D_XOPEN_SOURCE=700", "-D_DEFAULT_SOURCE"];
    compile(&["tests/c/test_corpus.c"], &exe, false, &defs, false);
    let refused = crate_dir().join("tests/data/corpus_refused.txt");
    let out = exec(&exe, &[&corpus, &refused]);
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[test]
fn example_quickstart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("quickstart");
    compile(
        &["examples/quickstart.c"],
        &exe,
        false,
        &["-std=c99"],
        false,
    );
    let out = exec(&exe, &[dir.path()]);
    assert!(out.contains("delivered 1 in 1 file"), "{out}");
}

#[test]
fn example_batch_file_static() {
    let corpus = corpus_dir().join("records.jsonl");
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("batch_file");
    let defs = ["-std=c99", "-D_XOPEN_SOURCE=700"];
    compile(&["examples/batch_file.c"], &exe, false, &defs, true);
    let out = exec(&exe, &[dir.path(), &corpus]);
    let want = format!("delivered {} records", expected_accepted(&corpus));
    assert!(out.contains(&want), "{out}\nwant: {want}");
}
