"""The first minutes with the command line: quick help, check-config on the example, the demo's help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import COMMANDS, build_parser, main
from daemon.demo.kinds import DEMO_KINDS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "config.yaml"
EXAMPLE_ENV = ("WHATCHANGED_WEBHOOK_SECRET", "PAGERDUTY_ROUTING_KEY", "OPSGENIE_API_KEY", "SLACK_BOT_TOKEN",
               "SLACK_WEBHOOK_URL", "WHATCHANGED_READ_TOKEN", "WHATCHANGED_WRITE_TOKEN")


def test_top_level_help_imports_no_command() -> None:
    """``whatchanged --help`` lists every command without importing the daemon, numpy or the store."""
    code = ("import sys\nfrom daemon.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy', 'daemon.runtime.daemon', 'daemon.store', 'aiohttp', 'sqlalchemy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=False, env={**os.environ, "COLUMNS": "100"}).stdout
    assert out.strip().endswith("[]"), out
    for name in COMMANDS:
        assert f"    {name} " in out, name


def test_a_command_help_imports_only_that_command() -> None:
    code = ("import sys\nfrom daemon.cli import main\ntry:\n    main(['demo', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint(sorted(m for m in ('numpy', 'daemon.runtime.daemon', 'daemon.store')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=False).stdout
    assert out.strip().endswith("[]") and "--fresh" in out, out


def test_the_full_parser_still_has_every_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["check-config", "x.yaml", "--explain"])
    assert args.explain and callable(args.func)
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)  # type: ignore[arg-type]


def test_demo_help_lists_every_incident_kind(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon.demo.incidents import INCIDENT_KINDS
    assert tuple(k for k, _ in DEMO_KINDS) == INCIDENT_KINDS  # the help's list is the demo's, in its order
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for kind, words in DEMO_KINDS:
        assert f"{words} ({kind})" in text, kind


def test_simulate_help_wraps_on_words(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon.demo.scenario import SCENARIO_KINDS
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    for kind in SCENARIO_KINDS:  # each kind whole on one line, never cut mid-word
        assert any(kind in line for line in out.splitlines()), kind


def test_check_config_on_the_example_names_every_variable_to_set(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_ENV:
        monkeypatch.delenv(name, raising=False)
    assert main(["check-config", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert "valid" in err and "7 secret(s) cannot be read" in err
    for name in EXAMPLE_ENV:
        assert f"{name}=..." in err, name
    assert all(name in EXAMPLE.read_text() for name in EXAMPLE_ENV)  # the example's header says it too
    for name in EXAMPLE_ENV:
        monkeypatch.setenv(name, "https://hooks.example/x" if "URL" in name else "s3cret")
    assert main(["check-config", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{EXAMPLE}: ok (3 signals, 4 services, 1 probe, 7 notifiers)") and "s3cret" not in out


def test_an_empty_config_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i, text in enumerate(("", "# nothing yet\n", "{}\n")):
        path = tmp_path / f"empty{i}.yaml"
        path.write_text(text)
        assert main(["check-config", str(path)]) == 2, text
        err = capsys.readouterr().err
        assert f"{path}: the config is empty" in err, err


def test_check_config_explain_prints_every_query_and_window(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("""
prometheus: {url: "http://prom:9090", step: 15s}
signals:
  - name: errors
    query: sum by (service) (rate(x_errors_total[1m]))
templates:
  - {template: istio}
health_queries:
  - {query: 'probe_success{job="blackbox"}'}
detection: {group_window: 10m}
""")
    assert main(["check-config", "--explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sum by (service) (rate(x_errors_total[1m]))" in out
    assert "istio_requests_total" in out and "[1m]" in out  # the template's queries, with the effective window
    assert 'probe_success{job="blackbox"}' in out
    assert "each query every 15s" in out and "within 10m of each other" in out and "resolve is held 10m" in out


def test_a_command_whose_module_cannot_be_imported_is_an_error_naming_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Never a command silently missing from the parser: the error names the command, the module and
    what to do."""
    import daemon.cli.console as cli_main
    monkeypatch.setitem(cli_main.COMMANDS, "replay", ("daemon.cli.no_such_module", "add_parser", "broken"))
    assert main(["replay", "--help"]) == 1
    err = capsys.readouterr().err
    assert "'replay' command is unavailable" in err and "daemon.cli.no_such_module" in err and "Reinstall" in err
    with pytest.raises(cli_main.CommandUnavailable):
        build_parser()
