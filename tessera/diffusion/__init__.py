"""Flow-matching maths. Knows a model only as a callable that returns velocity."""
