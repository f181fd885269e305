"""Training loops. The only package that may import torch.distributed."""
