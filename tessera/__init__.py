"""tessera: an open, Sora-style video generator."""

__version__ = "0.1.0"
