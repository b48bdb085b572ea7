"""Turning files into text blocks (parsers, by file type) and blocks into chunks."""
