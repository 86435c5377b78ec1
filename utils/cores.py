"""Use every core this process may run on.

MXNet 1.9.1 keeps one core for its engine thread when it sizes its OpenMP pool, so on a
2-core machine oneDNN ran every convolution on one thread: inference (ACM-U-Net, batch 8,
512x512) at 1.29 images/s instead of 2.42, a training step in 25 s instead of 13. The
pool size is read once, when MXNet loads, so this module must be imported before mxnet.
"""
import os
import sys

__all__ = ['use_all_cores']


def use_all_cores():
    """Size MXNet's OpenMP pool to the usable cores unless ``OMP_NUM_THREADS`` is set.

    Returns False when MXNet is already loaded: too late for this process, though the
    setting still reaches the processes it starts.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    if not os.environ.get('OMP_NUM_THREADS'):
        os.environ['OMP_NUM_THREADS'] = str(cores or 1)
    return 'mxnet' not in sys.modules


use_all_cores()
