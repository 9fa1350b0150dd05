"""``whatchanged detect``: score ``timestamp,value`` CSV files (the Numenta Anomaly Benchmark format).

Each output row is ``timestamp,value,anomaly_score``, one per input row, scored online
(:mod:`daemon.sources.csv_series`); several files are scored in parallel processes.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..sources.csv_series import DETECTORS, DetectError, read_series, score_file, score_series, write_scores

__all__ = ["DETECTORS", "DetectError", "add_parser", "available_cpus", "main", "read_series", "run", "score_file",
           "score_series"]


def add_parser(subparsers: Any) -> None:
    """Add the ``detect`` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "detect",
        help="score timestamp,value CSV files online (Numenta Anomaly Benchmark format)",
        description="Read timestamp,value CSV files and write timestamp,value,anomaly_score, one row per "
                    "input row. Scores are computed online (no look-ahead, same settings for every file). "
                    "One file without --output-dir goes to stdout; otherwise each file goes to "
                    "DIR/<same name>.csv.",
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.csv", help="input CSV with timestamp,value")
    parser.add_argument("--detector", choices=DETECTORS, default="ensemble",
                        help="ensemble: calibrated anomaly score (default); paging: the confidence of a shift "
                             "where the daemon's own detector reports one, else 0")
    parser.add_argument("--output-dir", type=Path, default=None, metavar="DIR",
                        help="write DIR/<input name>.csv for each input (required for several files)")
    parser.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                        help="files scored in parallel processes (default: one per available CPU); "
                             "each file's scores are the same whatever N")


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--jobs: {text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs: must be at least 1, got {n}")
    return n


def available_cpus() -> int:
    """CPUs this process may run on (its affinity on Linux): the default of ``--jobs``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run(args: argparse.Namespace) -> int:
    """Score every file; 0 on success, 2 on bad input (one line on stderr, no traceback)."""
    files: list[Path] = list(args.files)
    out_dir: Path | None = args.output_dir
    if out_dir is None and len(files) > 1:
        print("whatchanged detect: several files need --output-dir DIR", file=sys.stderr)
        return 2
    jobs = min(len(files), args.jobs or available_cpus())
    progress = sys.stderr.isatty()
    try:
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        if out_dir is None:
            rows, stamps, values = read_series(files[0])
            write_scores(sys.stdout, rows, score_series(stamps, values, args.detector))
        elif jobs <= 1:
            for n, path in enumerate(files, start=1):
                if progress:
                    print(f"\r[{n}/{len(files)}] {path.name}", end="", file=sys.stderr, flush=True)
                score_file(path, out_dir / path.name, args.detector)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(score_file, path, out_dir / path.name, args.detector) for path in files]
                try:
                    for n, (path, future) in enumerate(zip(files, futures, strict=True), start=1):
                        future.result()  # in input order, so the first bad file is the one reported
                        if progress:
                            print(f"\r[{n}/{len(files)}] {path.name}", end="", file=sys.stderr, flush=True)
                finally:
                    for future in futures:
                        future.cancel()
    except DetectError as exc:
        if progress:
            print(file=sys.stderr)
        print(f"whatchanged detect: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as Unix tools do.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        return 0
    except OSError as exc:
        print(f"whatchanged detect: {exc}", file=sys.stderr)
        return 2
    if progress:
        print(file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="whatchanged detect", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
