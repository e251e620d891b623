"""Where the command line's settings come from: flags > environment > config file > defaults.

Strategy: the three sources are generated from the option table (options.py) and each
yields ``{field: value}`` for the options it names, nothing for the rest; the merge
is then a dict update in precedence order and one ``Config(**merged)``, so the
dataclass's checks run once on the result. The flags are parsed with every default
suppressed, which is how a flag that was given is told from one that was not.

- ``--config FILE`` (or ``FASTH2_CONFIG``) names a TOML file whose keys are the long
  flag names (``access-logfile = "..."``); an unknown key is an error naming it.
- ``FASTH2_<NAME>`` (``FASTH2_ACCESS_LOGFILE``) for each option; repeatable options
  take a comma-separated list, switches 1/0, true/false, yes/no, on/off; an empty
  variable counts as unset. Other ``FASTH2_*`` variables are left alone (apps use the
  prefix too: ``FASTH2_STATIC_ROOT``) but one that nearly matches an option's name is
  warned about, as it is most likely a typo.
- The application path is the positional argument, the file's ``app`` key or
  ``FASTH2_APP``, in that order.
"""

from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ._version import VERSION
from .compat import tomllib
from .config import Config
from .options import BY_NAME, ENV_PREFIX, LIST, OPTIONS, SWITCH, Option, octal_mask, seconds, whole_number
from .speedups import BUILD

#: The config file's key, and environment variable, for the application path.
APP_KEY = "app"
APP_ENV = ENV_PREFIX + "APP"
#: The environment variable that names a config file when --config is not given.
CONFIG_ENV = ENV_PREFIX + "CONFIG"
#: fasth2's environment variables that are not options (so never "near misses").
OTHER_VARIABLES = frozenset({APP_ENV, CONFIG_ENV, "FASTH2_NO_EXTENSIONS"})


class SettingsError(ValueError):
    """A setting that cannot be used; the message names where it came from."""


@dataclass
class Settings:
    """What the command line asked for: the app path, the Config, and what to do."""

    app: str | None
    config: Config
    print_config: bool = False
    #: Messages to log once logging is set up (near-miss environment variables).
    warnings: list[str] = field(default_factory=list)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one flag per option-table row (defaults suppressed)."""
    parser = argparse.ArgumentParser(
        prog="fasth2", argument_default=argparse.SUPPRESS,
        usage="%(prog)s [options] [module:app]",
        description="Serve a WSGI application over HTTP/2 (h2c, or h2 over TLS) and "
        "HTTP/1.1. Every option can also be set by an environment variable FASTH2_<NAME> "
        "or a --config file; flags win over the environment, which wins over the file.",
        epilog="example: python -m fasth2 -b 0.0.0.0:8443 --certfile cert.pem "
               "--keyfile key.pem myproject.wsgi:application")
    parser.add_argument("app", nargs="?",
                        help="the WSGI application: module:name or module:factory()")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help=f"a TOML file of settings, keys named as the flags "
                        f"(default: ${CONFIG_ENV} if set)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the settings in effect as a config file and exit")
    parser.add_argument("--version", action="version", version=f"fasth2 {VERSION} ({BUILD})")
    groups: dict[str | None, Any] = {None: parser}
    defaults = Config()
    for option in OPTIONS:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        add_flag(groups[option.group], option, getattr(defaults, option.field))
    return parser


def add_flag(parser, option: Option, default: Any) -> None:
    """Add one option's flag(s) to ``parser``."""
    text = option.help.replace("{default}", show(default)).replace("%", "%%")
    if option.kind == SWITCH:
        parser.add_argument(*option.flags, dest=option.field, help=text,
                            action=argparse.BooleanOptionalAction)
        return
    parser.add_argument(*option.flags, dest=option.field, help=text, metavar=option.metavar,
                        choices=option.choices, type=flag_parser(option),
                        action="append" if option.kind == LIST else "store")


def flag_parser(option: Option):
    """The option's parser, raising what argparse reports as the flag's error."""
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = option.parse.__name__
    return parse


def show(value: Any) -> str:
    """A default as --help shows it."""
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def load_settings(argv: list[str] | None, environ: Mapping[str, str],
                  parser: argparse.ArgumentParser | None = None) -> Settings:
    """Parse ``argv``, read ``environ`` and the config file, and merge them.

    argparse exits on a malformed flag (as it always does); everything else that is
    wrong raises SettingsError naming the file key, variable or setting.
    """
    args = vars((parser or build_parser()).parse_args(argv))
    args.update({key: tuple(value) for key, value in args.items() if isinstance(value, list)})
    path = args.pop("config", None) or environ.get(CONFIG_ENV) or None
    print_config = args.pop("print_config", False)
    from_file = read_config_file(path) if path else {}
    from_env, warnings = read_environment(environ)
    merged = {**from_file, **from_env, **args}
    app = merged.pop(APP_KEY, None)
    try:
        config = Config(**merged)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(app, config, print_config, warnings)


def read_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The settings ``FASTH2_*`` variables give, and warnings about near misses."""
    settings: dict[str, Any] = {}
    for option in OPTIONS:
        text = environ.get(option.env, "")
        if text.strip():
            try:
                settings[option.field] = from_text(option, text)
            except ValueError as exc:
                raise SettingsError(f"{option.env}: {exc}") from None
    if environ.get(APP_ENV, "").strip():
        settings[APP_KEY] = environ[APP_ENV].strip()
    known = [option.env for option in OPTIONS]
    warnings = []
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in OTHER_VARIABLES and name not in known:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
            if near:
                warnings.append(f"environment variable {name} is not an option: "
                                f"did you mean {near[0]}?")
    return settings, warnings


def from_text(option: Option, text: str) -> Any:
    """An option's value from an environment variable's text."""
    if option.kind == LIST:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    value = option.parse(text.strip())
    if option.choices and value not in option.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(option.choices)}")
    return value


def read_config_file(path: str) -> dict[str, Any]:
    """The settings a TOML config file gives (SettingsError names a bad key or value)."""
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as exc:
        raise SettingsError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    settings: dict[str, Any] = {}
    for key, value in table.items():
        if key == APP_KEY and isinstance(value, str):
            settings[APP_KEY] = value
            continue
        option = BY_NAME.get(key)
        if option is None:
            raise SettingsError(f"{path}: unknown key {key!r}{suggestion(key)}")
        try:
            settings[option.field] = from_toml(option, value)
        except ValueError as exc:
            raise SettingsError(f"{path}: {key}: {exc}") from None
    return settings


def suggestion(key: str) -> str:
    """`` (did you mean 'x'?)`` for a key close to an option's name, else ""."""
    near = difflib.get_close_matches(key.replace("_", "-"), [*BY_NAME, APP_KEY], n=1, cutoff=0.75)
    return f" (did you mean {near[0]!r}?)" if near else ""


#: The TOML types each parser also takes as they are (strings always go through it).
_NATIVE = {whole_number: (int,), seconds: (int, float), octal_mask: (int,)}


def from_toml(option: Option, value: Any) -> Any:
    """An option's value from a TOML value: its native type, or a string to parse."""
    if option.kind == SWITCH:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if option.kind == LIST:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError(f"expected a string or a list of strings, got {value!r}")
        return tuple(items)
    if isinstance(value, str):
        return from_text(option, value)
    native = _NATIVE.get(option.parse, ())
    if isinstance(value, native) and not isinstance(value, bool):
        return value
    wanted = "a number" if native else "a string"
    raise ValueError(f"expected {wanted}, got {value!r}")


def render_config(settings: Settings) -> str:
    """The settings as a config file that --config reads back to the same Config."""
    lines = [f"# fasth2 {VERSION}: the settings in effect"]
    if settings.app:
        lines.append(f"{APP_KEY} = {toml_string(settings.app)}")
    for option in OPTIONS:
        value = getattr(settings.config, option.field)
        if value is None:
            lines.append(f"# {option.name} is not set")
        else:
            lines.append(f"{option.name} = {toml_value(option, value)}")
    return "\n".join(lines) + "\n"


def toml_value(option: Option, value: Any) -> str:
    """One value in TOML's syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if option.parse is octal_mask:
        return f"0o{value:03o}"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_string(item) for item in value) + "]"
    return toml_string(value)


def toml_string(text: str) -> str:
    """A TOML basic string: its escapes are JSON's (non-ASCII kept as it is)."""
    return json.dumps(text, ensure_ascii=False)
