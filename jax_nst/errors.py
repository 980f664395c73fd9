"""The one exception type users see for bad input."""


class NSTError(ValueError):
    """A user error (bad file, option or value) whose message is one clear line."""
