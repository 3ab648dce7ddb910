"""`tfaudio-train SYSTEM ...`: see `tfaudio-train --help`."""
import sys

from tfaudio.cli.common import main as _main


def main(argv=None) -> int:
    return _main("train", argv)


if __name__ == "__main__":
    sys.exit(main())
