"""Errors of the stack runner."""


class StackError(Exception):
    """A service of the local stack could not be started or stopped; the message says why."""
