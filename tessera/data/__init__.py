"""Data: video files, manifests, datasets and buckets, and contact sheets of frames."""
