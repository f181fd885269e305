"""Data: video files, the synthetic world, datasets."""
