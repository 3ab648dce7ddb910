"""`tfaudio-eval SYSTEM ...`: see `tfaudio-eval --help`."""
import sys

from tfaudio.cli.common import main as _main


def main(argv=None) -> int:
    return _main("eval", argv)


if __name__ == "__main__":
    sys.exit(main())
