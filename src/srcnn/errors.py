"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class SRCNNError(Exception):
    """A problem with the user's input (file, option, weights), not a bug."""
