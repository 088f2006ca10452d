"""The worker harness the boot binary starts."""

import platform
import sys

from example_sdk import __version__


def main() -> int:
    print(f"python worker harness {__version__} on Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
