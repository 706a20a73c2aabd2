"""offsetsite: the Django dashboard and command line around logcore."""

__version__ = "0.1.0"
