"""`tfaudio-export SYSTEM ...`: see `tfaudio-export --help`."""
import sys

from tfaudio.cli.common import main as _main


def main(argv=None) -> int:
    return _main("export", argv)


if __name__ == "__main__":
    sys.exit(main())
