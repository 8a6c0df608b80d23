"""The formula grammar, shipped as package data (this file only makes it findable)."""
