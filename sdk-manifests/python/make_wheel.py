"""Build the example SDK's wheel (PEP 427) into the folder given as argv[1].

Written out by hand so it needs nothing but the standard library: the machines that build
the examples have no network access for a build backend.
"""

import base64
import hashlib
import pathlib
import sys
import zipfile

NAME, VERSION = "example_sdk", "0.1.0"
HERE = pathlib.Path(__file__).parent
LICENSE = (HERE.parent.parent / "LICENSE").read_text() if (HERE.parent.parent / "LICENSE").exists() else "Apache License 2.0\n"

METADATA = f"""Metadata-Version: 2.4
Name: {NAME}
Version: {VERSION}
Summary: Example SDK for cargo-sdkimage's sample containers
License-Expression: Apache-2.0
License-File: LICENSE
"""
WHEEL = "Wheel-Version: 1.0\nGenerator: make_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main(out_dir: str) -> None:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files = {f"{NAME}/{p.name}": p.read_bytes() for p in sorted((HERE / NAME).glob("*.py"))}
    files[f"{dist_info}/METADATA"] = METADATA.encode()
    files[f"{dist_info}/WHEEL"] = WHEEL.encode()
    files[f"{dist_info}/licenses/LICENSE"] = LICENSE.encode()
    record = [record_line(p, d) for p, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    target = out / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            whl.writestr(info, data, zipfile.ZIP_DEFLATED)


if __name__ == "__main__":
    main(sys.argv[1])
