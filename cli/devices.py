"""Choosing devices from ``--gpus`` (or ``--cpus`` for several CPU contexts)."""
import sys

import mxnet as mx

__all__ = ['parse_contexts']


def parse_contexts(gpus, log=None, cpus=0):
    """``'0,1'`` -> [gpu(0), gpu(1)]; ``''`` or no GPU present -> [cpu()] (said once).

    ``cpus`` > 1 (and no GPUs asked for) gives ``[cpu(0), ..., cpu(cpus - 1)]``: the
    data-parallel path of several GPUs, run on the CPU.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    ids = [int(g) for g in str(gpus).replace(' ', '').split(',') if g != ''] if gpus else []
    if ids and cpus > 1:
        raise ValueError('--gpus and --cpus exclude each other')
    if not ids:
        return [mx.cpu(i) for i in range(max(cpus, 1))]
    available = mx.context.num_gpus()
    if available == 0:
        log('No GPU is available to this MXNet build (install mxnet-cu112 for CUDA 11.2); '
            'running on the CPU.')
        return [mx.cpu()]
    missing = [i for i in ids if i >= available]
    if missing:
        raise ValueError('--gpus asks for GPU %s but only %d GPU(s) are present'
                         % (','.join(map(str, missing)), available))
    return [mx.gpu(i) for i in ids]
