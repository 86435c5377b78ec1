"""Choosing devices from ``--gpus`` (or ``--cpus`` for several CPU contexts)."""
import os
import sys

import mxnet as mx

__all__ = ['parse_contexts', 'check_cpu_devices', 'CPU_TEMP_COPIES']

#: MXNet's CPU temp-space pool is shared by every CPU context and hands out its copies in
#: turn (4 by default). With SyncBatchNorm on several CPU contexts an operator of one
#: context can be handed the copy that an operator of the other context still holds while
#: it waits at SyncBatchNorm's barrier: both wait forever. More copies than one training
#: step requests avoids it; ``utils.cores`` sets this before MXNet loads when ``--cpus`` > 1.
CPU_TEMP_COPIES = 1024


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


def check_cpu_devices(ctx, syncbn):
    """Refuse SyncBatchNorm over several CPU contexts when it would deadlock (see
    :data:`CPU_TEMP_COPIES`) rather than hang."""
    cpu_devices = sum(1 for c in ctx if c.device_type == 'cpu')
    if syncbn and cpu_devices > 1 and \
            int(os.environ.get('MXNET_CPU_TEMP_COPY', '4')) < CPU_TEMP_COPIES:
        raise ValueError('SyncBatchNorm on %d CPU contexts needs MXNET_CPU_TEMP_COPY=%d set '
                         'before MXNet loads (train.py sets it when --cpus is on its command '
                         'line: give --cpus again with --resume); it is %s'
                         % (cpu_devices, CPU_TEMP_COPIES,
                            os.environ.get('MXNET_CPU_TEMP_COPY', 'unset (4)')))
