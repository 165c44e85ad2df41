"""The one exception type for errors a user can cause (bad config, missing input).

The CLI prints its message as a single line and exits with status 2; anything else is a bug and raises.
"""


class CurationError(Exception):
    """A user-facing error: the message names the key, path or value at fault."""
