"""Errors raised by the stream workers."""


class StreamsError(Exception):
    """Base class of every error this package raises."""


class StartupError(StreamsError):
    """The worker cannot start (PostgreSQL or Kafka unreachable, migrations failed)."""
