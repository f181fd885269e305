"""Scoring of generated videos against what they were asked to show."""
