"""Build the extra wheel of the custom image (PEP 427) into the folder given as argv[1].

Standard library only, like the example SDK's: builds have no network for a build backend.
"""

import base64
import hashlib
import pathlib
import sys
import zipfile

NAME, VERSION = "example_extra", "0.1.0"
SOURCE = '''"""An extra package a user adds to the example SDK image."""

__version__ = "0.1.0"


def greet():
    import example_sdk

    return f"example_extra {__version__} beside example_sdk {example_sdk.__version__}"
'''
METADATA = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\nLicense: Apache-2.0\n"
WHEEL = "Wheel-Version: 1.0\nGenerator: make_wheel.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main(out_dir: str) -> None:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}/__init__.py": SOURCE.encode(),
        f"{dist_info}/METADATA": METADATA.encode(),
        f"{dist_info}/WHEEL": WHEEL.encode(),
    }
    record = [record_line(p, d) for p, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"{NAME}-{VERSION}-py3-none-any.whl"
    # Fixed timestamps: the same inputs give the same wheel, so the image stays up to date.
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), data)


if __name__ == "__main__":
    main(sys.argv[1])
