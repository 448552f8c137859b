"""Errors raised by the shared contracts (config, records, migrations)."""


class SchemaError(Exception):
    """Base class of every error this package raises."""


class ConfigError(SchemaError):
    """The configuration is invalid; the message names the key and the problem."""


class DecodeError(SchemaError):
    """A Kafka message or record does not match its contract."""


class MigrationError(SchemaError):
    """A migration could not be applied."""


class SchemaVersionError(MigrationError):
    """The database's schema is not the one this release ships (older, newer or edited): services refuse to start."""
