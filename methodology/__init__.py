"""Bundled methodologies, shipped as package data (this file only makes them findable)."""
