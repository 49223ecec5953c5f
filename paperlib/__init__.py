"""paperlib: a replication of Smith (2018), arXiv 1803.09820."""
__version__ = "0.1.0"
