"""Upkeep of a closed or open library: doctor, backup and restore, export, migration."""
