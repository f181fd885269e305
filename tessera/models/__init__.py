"""Single-device nn.Modules: no torch.distributed, no files, no environment variables, no globals."""
