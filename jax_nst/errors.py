"""The one exception type users see for bad input, and what counts as running out of memory."""


OUT_OF_MEMORY = ("RESOURCE_EXHAUSTED", "Out of memory", "YNNPACK operation failed: error")
"""What XLA's errors say when an allocation was refused."""


class NSTError(ValueError):
    """A user error (bad file, option or value) whose message is one clear line."""


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is running out of memory: Python's MemoryError, XLA's RESOURCE_EXHAUSTED, its CPU client's
    "Out of memory allocating" (what a full ``ulimit -v`` gives), or a failed YNNPACK kernel of XLA:CPU, whose one
    failure status ("error") is what a refused allocation gives: it has no out-of-memory status."""
    text = str(error)
    return isinstance(error, MemoryError) or any(sign in text for sign in OUT_OF_MEMORY)
