"""Errors of the crawler and of the jobs it runs; converted to one-line messages at the CLI edge."""


class CrawlerError(Exception):
    """Base class of every error this package raises."""


class CrawlBusy(CrawlerError):
    """Another crawl of the same backend holds its lock."""


class PublishError(CrawlerError):
    """Listing events could not be delivered to Kafka."""


class MoveError(CrawlerError):
    """A move job cannot proceed (bad source or destination, verification failed)."""


class VerifyError(MoveError):
    """A copied file does not match its source (size or checksum)."""
