"""aggregator: curated article files in, valid per-topic RSS and Atom feeds out."""

__version__ = "0.1.0"
