"""``litwatch digest`` and ``litwatch run`` (placeholder: the digest issue fills this in)."""

COMMANDS: list = []
