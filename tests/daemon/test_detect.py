"""``whatchanged detect``: NAB-format CSV in, one scored row per input row out, online."""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
import pytest

from daemon.cli import detect


def write_series(path: Path, values: list[float], start: str = "2014-04-01 00:00:00") -> Path:
    stamps = np.datetime64(start) + np.arange(len(values)) * np.timedelta64(300, "s")
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for ts, v in zip(stamps, values, strict=True):
            w.writerow([str(ts).replace("T", " "), repr(v)])
    return path


def parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    detect.add_parser(sub)
    return parser.parse_args(["detect", *args])


def series(n: int = 600, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    values = 50.0 + rng.normal(0.0, 2.0, n)
    values[min(400, n - 1)] += 40.0
    return [float(v) for v in values]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_add_parser_dispatches_to_run() -> None:
    args = parse(["a.csv"])
    assert args.func is detect.run


def test_one_file_to_stdout_one_row_per_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_series(tmp_path / "s.csv", series())
    assert detect.run(parse([str(src)])) == 0
    out = capsys.readouterr()
    rows = list(csv.DictReader(out.out.splitlines()))
    assert len(rows) == 600
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
    inputs = read_rows(src)
    assert [(r["timestamp"], r["value"]) for r in rows] == [(r["timestamp"], r["value"]) for r in inputs]
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert int(np.argmax(scores)) == 400
    assert out.err == ""                      # not a TTY: no progress


def test_scores_are_online_no_look_ahead(tmp_path: Path) -> None:
    values = series()
    full = detect.score_series([float(i) for i in range(600)], values)
    prefix = detect.score_series([float(i) for i in range(450)], values[:450])
    assert full[:450] == prefix


def test_several_files_to_output_dir(tmp_path: Path) -> None:
    a = write_series(tmp_path / "a.csv", series(seed=1))
    b = write_series(tmp_path / "b.csv", series(300, seed=2))
    out = tmp_path / "out"
    assert detect.run(parse([str(a), str(b), "--output-dir", str(out)])) == 0
    assert len(read_rows(out / "a.csv")) == 600
    assert len(read_rows(out / "b.csv")) == 300


def test_several_files_without_output_dir_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_series(tmp_path / "a.csv", series())
    assert detect.run(parse([str(a), str(a)])) == 2
    assert "--output-dir" in capsys.readouterr().err


def test_empty_value_is_a_gap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "gap.csv"
    src.write_text("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,\n2014-04-01 00:10:00,nan\n")
    assert detect.run(parse([str(src)])) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["anomaly_score"] for r in rows] == ["0", "0", "0"]
    assert not math.isnan(float(rows[2]["anomaly_score"]))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,abc\n", "row 3: field 'value'"),
        ("timestamp,value\nyesterday,1\n", "row 2: field 'timestamp'"),
        ("time,val\n1,2\n", "row 1: header"),
        ("timestamp,value\n2014-04-01 00:00:00\n", "row 2: expected 2 fields"),
        ("", "empty file"),
    ],
)
def test_bad_input_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str,
) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(text)
    assert detect.run(parse([str(src)])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(src) in err and needle in err
    assert "Traceback" not in err


def test_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert detect.run(parse([str(tmp_path / "nope.csv")])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.csv" in err


def test_main_runs_as_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_series(tmp_path / "s.csv", series(50))
    assert detect.main([str(src)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 51


def test_parallel_jobs_give_the_same_scores_as_one(tmp_path: Path) -> None:
    files = [write_series(tmp_path / f"s{i}.csv", series(500, seed=i)) for i in range(4)]
    one, two = tmp_path / "one", tmp_path / "two"
    assert detect.run(parse([*map(str, files), "--output-dir", str(one), "--jobs", "1"])) == 0
    assert detect.run(parse([*map(str, files), "--output-dir", str(two), "--jobs", "2"])) == 0
    for f in files:
        assert (one / f.name).read_text() == (two / f.name).read_text()


def test_parallel_run_reports_the_first_bad_file_in_input_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    good = write_series(tmp_path / "good.csv", series(300))
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2014-04-01 00:00:00,abc\n")
    assert detect.run(parse([str(good), str(bad), "--output-dir", str(tmp_path / "out"), "--jobs", "2"])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv" in err and "field 'value'" in err and "Traceback" not in err
    assert len(read_rows(tmp_path / "out" / "good.csv")) == 300


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_bad_jobs_is_a_usage_error_naming_the_option(jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(["x.csv", "--jobs", jobs])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err
