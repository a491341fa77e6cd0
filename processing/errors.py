"""The one exception type whose message is shown to users as a single line."""


class CrdError(Exception):
    """An expected failure (bad input, bad config, unreachable endpoint).

    The CLI prints its message on one line and exits non-zero; anything else is a bug
    and keeps its traceback.
    """
