"""Settings from flags, FASTH2_* variables and a --config file: one table, one precedence."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from fasth2 import Config
from fasth2.accesslog import check_format
from fasth2.options import LIST, OPTIONS, PROGRAMMATIC_ONLY, SWITCH, cert_reqs
from fasth2.options import mount_point, octal_mask, peer_list, seconds, whole_number
from fasth2.settings import SettingsError, load_settings, render_config

from .helpers import ROOT, ServerProcess, read_lines, run_client

#: A value to set each option to, by its parser (differs from every default).
SAMPLE_TEXT = {whole_number: "123456", seconds: "7.5", octal_mask: "027", cert_reqs: "optional",
               peer_list: "10.0.0.0/8,192.0.2.1", mount_point: "/mounted",
               check_format: "%(h)s %(s)s %(protocol)s", str: "sample.pem"}
#: What some options need beside them to make a valid Config (TLS comes in pairs).
CONTEXT = {"certfile": "c.pem", "keyfile": "k.pem", "ca_certs": "ca.pem"}


def sample(option) -> str:
    """The text an option is set to in these tests."""
    if option.choices:
        return option.choices[-1]
    if option.kind == SWITCH:
        return "false" if getattr(Config(), option.field) else "true"
    if option.kind == LIST:
        return "first,second"
    return SAMPLE_TEXT[option.parse]


def context_flags(option) -> list[str]:
    """Flags for the TLS fields an option needs, leaving out the option itself."""
    return [text for field, value in CONTEXT.items() if field != option.field
            for text in (f"--{field.replace('_', '-')}", value)]


def test_every_config_field_has_exactly_one_option():
    fields = {field.name for field in dataclasses.fields(Config)}
    covered = [option.field for option in OPTIONS]
    assert len(covered) == len(set(covered))
    assert set(covered) == fields - PROGRAMMATIC_ONLY
    assert len({option.env for option in OPTIONS}) == len(OPTIONS)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_flag_environment_and_file_set_the_same_value(option, tmp_path):
    text = sample(option)
    if option.kind == SWITCH:
        flags = [f"--{'no-' if text == 'false' else ''}{option.name}"]
    elif option.kind == LIST:
        flags = [arg for item in text.split(",") for arg in (option.flags[-1], item)]
    else:
        flags = [option.flags[-1], text]
    from_flag = load_settings([*context_flags(option), *flags], {}).config
    from_env = load_settings(context_flags(option), {option.env: text}).config
    file = tmp_path / "fasth2.toml"
    if option.kind == SWITCH:
        file.write_text(f"{option.name} = {text}\n")
    elif option.kind == LIST:
        file.write_text(f"{option.name} = {text.split(',')!r}\n".replace("'", '"'))
    else:
        file.write_text(f"{option.name} = {text!r}\n".replace("'", '"'))
    from_file = load_settings(["--config", str(file), *context_flags(option)], {}).config
    value = getattr(from_flag, option.field)
    assert value != getattr(Config(), option.field)
    assert getattr(from_env, option.field) == value
    assert getattr(from_file, option.field) == value


def test_flags_beat_the_environment_which_beats_the_file(tmp_path):
    file = tmp_path / "fasth2.toml"
    file.write_text('threads = 2\nidle-timeout = 3\nbacklog = 4\nbind = ["127.0.0.1:1"]\n'
                    'preload = true\napp = "from.file:app"\n')
    environ = {"FASTH2_THREADS": "5", "FASTH2_IDLE_TIMEOUT": "6",
               "FASTH2_BIND": "127.0.0.1:2, [::1]:3", "FASTH2_APP": "from.env:app"}
    settings = load_settings(["--config", str(file), "--threads", "7", "--no-preload"], environ)
    config = settings.config
    assert (config.threads, config.idle_timeout, config.backlog) == (7, 6.0, 4)
    assert config.binds == ("127.0.0.1:2", "[::1]:3")
    assert config.preload is False  # a flag can turn off what the file turned on
    assert config.graceful_timeout == Config().graceful_timeout
    assert settings.app == "from.env:app"
    assert load_settings(["--config", str(file), "flag:app"], environ).app == "flag:app"
    assert load_settings(["--config", str(file)], {}).app == "from.file:app"


def test_fasth2_config_names_the_file_and_an_empty_variable_is_unset(tmp_path):
    file = tmp_path / "settings.toml"
    file.write_text("workers = 3\n")
    config = load_settings([], {"FASTH2_CONFIG": str(file), "FASTH2_THREADS": ""}).config
    assert config.workers == 3 and config.threads == Config().threads


@pytest.mark.parametrize("text, message", [
    ('acess-logfile = "a.log"\n', "unknown key 'acess-logfile' (did you mean 'access-logfile'?)"),
    ('access_logfile = "a.log"\n', "unknown key 'access_logfile' (did you mean 'access-logfile'?)"),
    ("[server]\nthreads = 2\n", "unknown key 'server'"),
    ('threads = "many"\n', "threads: 'many' is not a whole number"),
    ("threads = 2.5\n", "threads: expected a number, got 2.5"),
    ("preload = 1\n", "preload: expected true or false, got 1"),
    ("bind = 8000\n", "bind: expected a string or a list of strings, got 8000"),
    ('log-level = "loud"\n', "log-level: 'loud' is not one of critical"),
    ("threads = 0\n", "threads must be at least 1"),
    ("threads = \n", "not valid TOML"),
])
def test_a_bad_file_is_an_error_naming_the_key(tmp_path, text, message):
    file = tmp_path / "fasth2.toml"
    file.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_settings(["--config", str(file)], {})
    assert message in str(caught.value)


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(SettingsError, match="FASTH2_WORKERS: 'two' is not a whole number"):
        load_settings([], {"FASTH2_WORKERS": "two"})
    with pytest.raises(SettingsError, match="FASTH2_PRELOAD: 'maybe' is not one of"):
        load_settings([], {"FASTH2_PRELOAD": "maybe"})


def test_other_fasth2_variables_are_left_alone_but_near_misses_are_warned_about():
    settings = load_settings([], {"FASTH2_STATIC_ROOT": "/srv", "FASTH2_NO_EXTENSIONS": "1",
                                  "FASTH2_ACCES_LOGFILE": "x.log"})
    assert settings.warnings == ["environment variable FASTH2_ACCES_LOGFILE is not an option: "
                                 "did you mean FASTH2_ACCESS_LOGFILE?"]
    assert settings.config == Config()


def test_print_config_reads_back_as_the_same_config(tmp_path):
    argv = [arg for option in OPTIONS if option.kind != SWITCH
            for arg in (option.flags[-1], sample(option).split(",")[0])]
    argv += ["--preload", "--no-server-header", "myapp:app"]
    settings = load_settings(argv, {})
    file = tmp_path / "printed.toml"
    file.write_text(render_config(settings))
    again = load_settings(["--config", str(file)], {})
    assert again.config == settings.config and again.app == "myapp:app"
    assert render_config(load_settings(["--config", str(file)], {})) == file.read_text()


def test_an_unknown_key_stops_the_command_line_with_one_message(tmp_path):
    file = tmp_path / "fasth2.toml"
    file.write_text('bind = "127.0.0.1:0"\nthreds = 4\n')
    result = subprocess.run([sys.executable, "-m", "fasth2", "--config", str(file), "tests.apps:app"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"fasth2: error: {file}: unknown key 'threds' (did you mean 'threads'?)")


def test_all_three_sources_reach_the_running_server(tmp_path):
    log = tmp_path / "access.log"
    file = tmp_path / "fasth2.toml"
    file.write_text(f'app = "tests.apps:app"\nbind = "127.0.0.1:0"\n'
                    f'access-logfile = "{log}"\naccess-logformat = "file %(s)s"\n')
    server = ServerProcess(None, "--config", str(file), "--no-server-header", binds=(),
                           env={"FASTH2_ACCESS_LOGFORMAT": "env %(s)s %(protocol)s"})
    try:
        result = run_client("curl", "-s", "-i", "--http2-prior-knowledge", f"{server.url}/hello")
        assert result.stdout.startswith(b"HTTP/2 200")
        assert b"\nserver:" not in result.stdout.lower()  # the flag
        assert read_lines(log, 1) == ["env 200 h2c"]  # the environment over the file
    finally:
        assert server.stop() == 0


def test_the_readme_documents_every_option():
    readme = (ROOT / "README.md").read_text()
    assert [option.flags[-1] for option in OPTIONS if option.flags[-1] not in readme] == []
