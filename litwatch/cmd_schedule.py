"""``litwatch schedule`` (placeholder: the scheduler issue fills this in)."""

COMMANDS: list = []
