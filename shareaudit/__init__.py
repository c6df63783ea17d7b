"""shareaudit: who can reach what on SMB file servers, and where medical data sits behind an open door."""

__version__ = "0.1.0"
