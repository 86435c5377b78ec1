"""Shared utilities: devices, model loading for the CLIs, evaluation loop, plots."""
