"""Loaders for outside weight layouts (Wan2.1, diffusers and original), through explicit key tables."""
