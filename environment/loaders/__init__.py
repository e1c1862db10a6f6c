"""Parsers of the bundled data files into area records; `environment.services` writes them."""
