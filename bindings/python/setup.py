"""Build step: compile the Rust C ABI library and bundle it into the package.

`pip install ./bindings/python` runs `cargo build --release -p opentrail-ffi` in the workspace two
levels up and copies the resulting `libopentrail_ffi.so` next to `opentrail/__init__.py`. Set
`OPENTRAIL_FFI_LIB=/path/to/libopentrail_ffi.so` to bundle a prebuilt library instead (no cargo
needed), or `OPENTRAIL_WORKSPACE=/path/to/checkout` when the package is built outside the tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

LIB_NAME = "libopentrail_ffi.so"


def _workspace() -> Path:
    env = os.environ.get("OPENTRAIL_WORKSPACE")
    root = Path(env) if env else Path(__file__).resolve().parent.parent.parent
    if not (root / "ffi" / "Cargo.toml").exists():
        raise RuntimeError(
            f"no OpenTrail workspace at {root} (expected ffi/Cargo.toml); "
            "set OPENTRAIL_WORKSPACE or OPENTRAIL_FFI_LIB"
        )
    return root


def _cargo_build() -> Path:
    """Builds the cdylib and returns its path, as cargo reports it (honours CARGO_TARGET_DIR)."""
    root = _workspace()
    cmd = [
        os.environ.get("CARGO", "cargo"),
        "build",
        "--release",
        "-p",
        "opentrail-ffi",
        "--lib",
        "--message-format=json-render-diagnostics",
    ]
    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, check=True, text=True)
    found = None
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact":
            continue
        if msg.get("target", {}).get("name") != "opentrail_ffi":
            continue
        for f in msg.get("filenames", []):
            if f.endswith(LIB_NAME):
                found = Path(f)
    if found is None or not found.exists():
        raise RuntimeError(f"cargo did not report {LIB_NAME}")
    return found


class BuildWithRustLibrary(build_py):
    def run(self) -> None:
        super().run()
        prebuilt = os.environ.get("OPENTRAIL_FFI_LIB")
        lib = Path(prebuilt) if prebuilt else _cargo_build()
        dest = Path(self.build_lib) / "opentrail" / LIB_NAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lib, dest)


class BinaryDistribution(Distribution):
    """The wheel carries a native library: platform-specific, not pure Python."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildWithRustLibrary}, distclass=BinaryDistribution)
