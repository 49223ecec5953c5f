"""Errors a user can act on. The CLI turns any of these into one line on stderr and exit status 2."""


class PaperlibError(Exception):
    """Base class: the message names the problem and the fix."""


class ConfigError(PaperlibError, ValueError):
    """A parameter is out of range or of the wrong kind; the message names the parameter."""


class DataError(PaperlibError):
    """A dataset is unknown, corrupt or unreadable."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """No source for a dataset: the message says where we looked and how to get the data."""


class CheckpointError(PaperlibError):
    """A checkpoint is truncated, corrupt or from an incompatible run."""


class OutputDirError(PaperlibError):
    """An output folder cannot be used: unwritable, full, locked, or holding a finished run."""
