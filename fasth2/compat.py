"""What differs between the Python versions fasth2 supports (3.10 and later)."""

try:
    import tomllib  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10: the same parser, as a package
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["tomllib"]
