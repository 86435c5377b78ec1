"""Small helpers of the command lines: MXNet's thread pool (``cores``, imported first) and plots."""
