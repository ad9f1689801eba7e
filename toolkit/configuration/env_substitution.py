"""Which `${VAR}` a config may substitute from the environment.

From the command line every variable may be used, as in ai-toolkit: the config's author is the
one who runs it. A config posted to the web UI is another matter: whoever can post one could
write `caption_ext: "${SECRET}"` and read the server's environment back from the validation
message. The web UI therefore starts the trainer with `LTX2_CONFIG_ENV_ALLOW` set (to the
comma-separated names the UI's owner allows, by default none): a variable not on that list is
not substituted, and its value appears nowhere.
"""

from __future__ import annotations

ENV_ALLOW_VAR = "LTX2_CONFIG_ENV_ALLOW"


def allowed_variables(environ: dict[str, str]) -> set[str] | None:
    """The variables a config may substitute, or None for all (no list set: the command line)."""
    raw = environ.get(ENV_ALLOW_VAR)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def refusal(var: str, allowed: set[str] | None) -> str | None:
    """Why `${var}` is not substituted, or None when it may be."""
    if allowed is None or var in allowed:
        return None
    shown = ", ".join(sorted(allowed)) or "none"
    return (f"uses ${{{var}}}, but a config from the web UI may substitute only the environment "
            f"variables its server allows ({ENV_ALLOW_VAR}: {shown}): write the value itself")
