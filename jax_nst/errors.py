"""The one exception type users see for bad input, and what counts as running out of memory."""


class NSTError(ValueError):
    """A user error (bad file, option or value) whose message is one clear line."""


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is running out of memory: Python's MemoryError, XLA's RESOURCE_EXHAUSTED or its CPU
    client's "Out of memory allocating" (what a full ``ulimit -v`` gives)."""
    text = str(error)
    return isinstance(error, MemoryError) or "RESOURCE_EXHAUSTED" in text or "Out of memory" in text
