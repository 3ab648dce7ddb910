"""`tfaudio-export SYSTEM ...`: see `tfaudio-export --help`.

``tfaudio-export --serving-config [--out exported_models] [--model-base-path /models]``
writes ``<out>/models.config`` for TF Serving (every model below ``--out``, latest
version) instead of exporting.
"""
import argparse
import sys

from tfaudio.cli.common import Formatter
from tfaudio.cli.common import main as _main

SERVING_HELP = """\
Write a TF Serving model config (ModelServerConfig text proto) naming every model
below --out, each serving its latest version, to <out>/models.config (atomically).

  tfaudio-export --serving-config
  docker run -p 8501:8501 -p 8500:8500 -v "$PWD/exported_models:/models" \\
      tensorflow/serving --model_config_file=/models/models.config
"""


def serving_config(argv) -> int:
    p = argparse.ArgumentParser(prog="tfaudio-export --serving-config", description=SERVING_HELP,
                                formatter_class=Formatter)
    p.add_argument("--serving-config", action="store_true", required=True,
                   help="write the model config instead of exporting")
    p.add_argument("--out", default="exported_models", help="the TF Serving model base folder")
    p.add_argument("--model-base-path", default="/models",
                   help="where the model server sees --out (the container mount point, or an absolute path)")
    args = p.parse_args(argv)
    from tfaudio.runtime import user_errors

    try:
        from tfaudio.export.serving import served_models, write_serving_config

        path = write_serving_config(args.out, args.model_base_path)
        print(f"{path}: {', '.join(served_models(args.out))} (latest version each)")
        return 0
    except user_errors() as exc:
        print(f"tfaudio-export: error: {exc}", file=sys.stderr)
        return 2


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--serving-config" in argv:
        return serving_config(argv)
    return _main("export", argv)


if __name__ == "__main__":
    sys.exit(main())
