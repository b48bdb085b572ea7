"""The built-in reader: pages drawn by PyMuPDF and opening the user's own viewer."""
