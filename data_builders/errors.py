"""Errors raised while turning dumps into a graph."""
from addrl_graph.errors import AddrlError


class DataBuildError(AddrlError):
    """Bad input dump, bad option or unreadable file.

    When raised for a single malformed line (``--strict``) the message names the
    file and the 1-based line number.
    """
