"""Generate the committed Python for proto/ into collections_core.contracts.

protoc names Python modules after the .proto paths (``collections/v1/...``), which
would shadow the standard library's ``collections``; so the generated modules live
under ``collections_core.contracts`` and their imports are rewritten to match.

    python proto/generate.py          regenerate
    python proto/generate.py --check  exit 1 if the committed code is stale
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
TARGET = PROTO_ROOT.parent / "libs/collections-core/src/collections_core/contracts"
PACKAGE = "collections_core.contracts"
OWN_ROOTS = ("common", "corebanking", "collections")
IMPORT = re.compile(rf"^from ({'|'.join(OWN_ROOTS)})(\.\S+)? import ", re.MULTILINE)


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto") if "node_modules" not in p.parts)
    well_known = resources.files("grpc_tools") / "_proto"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
           f"--python_out={out}", f"--pyi_out={out}", *protos]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"protoc failed:\n{result.stderr}")
    for path in out.rglob("*.py*"):
        path.write_text(IMPORT.sub(lambda m: f"from {PACKAGE}.{m.group(1)}{m.group(2) or ''} import ", path.read_text()))
    for folder in [out, *[p for p in out.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").write_text('"""Generated from proto/ by proto/generate.py; do not edit."""\n')


def differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found = [*cmp.left_only, *cmp.right_only, *cmp.diff_files]
    for name, sub in cmp.subdirs.items():
        found += [f"{name}/{d}" for d in differences(left / name, right / name)]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "contracts"
        fresh.mkdir()
        generate(fresh)
        if args.check:
            stale = differences(fresh, TARGET) if TARGET.exists() else ["(missing)"]
            if stale:
                print("generated Python is stale, run `make proto`:", *stale, sep="\n  ", file=sys.stderr)
                return 1
            return 0
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(fresh, TARGET)
    print(f"generated {TARGET.relative_to(PROTO_ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
