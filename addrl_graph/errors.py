"""Exception types a user can cause; one per area, all sharing :class:`AddrlError`."""


class AddrlError(Exception):
    """Base class of every error the library raises on purpose."""


class GraphSchemaError(AddrlError):
    """A processed graph (``graph.pt`` + ``meta.json``) does not follow the schema."""


class ConfigError(AddrlError):
    """A configuration value does not fit (names the option and what it got)."""


class CheckpointError(AddrlError):
    """A checkpoint is missing, corrupted or does not fit the graph."""


class TrainingDiverged(AddrlError):
    """The training loss became NaN or infinite; the run folder keeps its last good epoch."""


class FolderLocked(AddrlError):
    """Another process is writing into the same run or graph folder."""
