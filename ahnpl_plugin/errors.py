"""Errors the entry points turn into one-line messages (no traceback) and exit code 2."""


class UserError(Exception):
    """Bad input a user can fix: the message says what is wrong and how to fix it."""


class ConfigError(UserError):
    """A config key, value, model type or path that cannot work."""


def unknown_choice(kind: str, value, valid) -> ConfigError:
    """Uniform "unknown X 'v'; valid: a, b, c" error."""
    valid = ", ".join(sorted(str(v) for v in valid))
    return ConfigError(f"unknown {kind} {value!r}; valid: {valid}")
