"""The shipped search spaces: ``search run NAME`` runs ``spaces/NAME.py``."""
