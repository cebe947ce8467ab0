"""Keep multi-platform image aliases in sync with a file in git."""

__version__ = "0.1.0"
