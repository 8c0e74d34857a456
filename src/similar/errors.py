"""The one exception type the faces turn into a one-line message and a non-zero exit."""


class SimilarError(Exception):
    """A user-facing problem: the message names what is wrong and what to do."""

    exit_code = 1


class NotFound(SimilarError):
    """A PMID that the index does not hold (never indexed, or deleted)."""

    exit_code = 3
