"""`tfaudio-data-service dispatcher|worker`: the parts of a tf.data service.

Trainers started with ``--data-service grpc://DISPATCHER_HOST:PORT`` send their input
pipeline to the dispatcher; the workers run it. See README, "Scaling out and serving".
"""
from __future__ import annotations

import argparse
import os
import sys

from tfaudio.cli.common import Formatter
from tfaudio.runtime import load_tensorflow

DESCRIPTION = """\
Start one part of a tf.data service, which runs the training input (decoding,
features, batching) of tfaudio-train on other processes or machines.

  # host A: the dispatcher (one per service)
  tfaudio-data-service dispatcher --port 5050 --work-dir /shared/tfdata-dispatcher
  # hosts B, C, ...: one or more workers each
  tfaudio-data-service worker --dispatcher A:5050 --port 5051
  # the trainer(s)
  tfaudio-train dfe --data-service grpc://A:5050 ...

A server runs until it is stopped (Ctrl-C / SIGTERM). With --work-dir and
--fault-tolerant the dispatcher journals its state there and a restarted dispatcher
picks up the running jobs; workers re-register by themselves.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfaudio-data-service", description=DESCRIPTION, formatter_class=Formatter)
    sub = p.add_subparsers(dest="role", required=True, metavar="ROLE")
    d = sub.add_parser("dispatcher", help="the one process that assigns input work to the workers",
                       formatter_class=Formatter)
    d.add_argument("--port", type=int, default=5050, help="port trainers and workers connect to (0: any free)")
    d.add_argument("--work-dir", help="folder for the dispatcher's journal (needed by --fault-tolerant)")
    d.add_argument("--fault-tolerant", action="store_true",
                   help="journal state to --work-dir so a restarted dispatcher resumes the running jobs")
    d.add_argument("--worker-timeout", type=float, default=10.0,
                   help="seconds without a heartbeat after which a worker counts as gone")
    w = sub.add_parser("worker", help="a process that runs input pipelines and streams batches to trainers",
                       formatter_class=Formatter)
    w.add_argument("--dispatcher", required=True, metavar="HOST:PORT", help="the dispatcher's address")
    w.add_argument("--port", type=int, default=0, help="port trainers fetch batches from (0: any free)")
    w.add_argument("--worker-address", metavar="HOST:PORT",
                   help="how trainers reach this worker (default: this host's name and --port)")
    return p


def start(args):
    """Start the server ``args`` describes and return it (tests run it in-process)."""
    tf = load_tensorflow(announce=False)
    from tfaudio.errors import ConfigError

    svc = tf.data.experimental.service
    if args.role == "dispatcher":
        if args.fault_tolerant and not args.work_dir:
            raise ConfigError("--fault-tolerant needs --work-dir (where the dispatcher journals its state)")
        config = svc.DispatcherConfig(port=args.port, work_dir=args.work_dir,
                                      fault_tolerant_mode=bool(args.fault_tolerant),
                                      worker_timeout_ms=int(args.worker_timeout * 1000))
        return svc.DispatchServer(config)
    dispatcher = args.dispatcher.split("://", 1)[-1]
    if ":" not in dispatcher:
        raise ConfigError(f"--dispatcher {args.dispatcher!r}: expected HOST:PORT")
    kwargs = {"dispatcher_address": dispatcher, "port": args.port}
    if args.worker_address:
        kwargs["worker_address"] = args.worker_address
    return svc.WorkerServer(svc.WorkerConfig(**kwargs))


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from tfaudio.runtime import user_errors

    try:
        server = start(args)
    except user_errors() as exc:
        print(f"tfaudio-data-service {args.role}: error: {exc}", file=sys.stderr)
        return 2
    where = server.target if args.role == "dispatcher" else f"dispatcher {args.dispatcher}"
    print(f"tfaudio-data-service: {args.role} running ({where}); stop with Ctrl-C", flush=True)
    try:
        server.join()
    except KeyboardInterrupt:
        print(f"tfaudio-data-service: {args.role} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
