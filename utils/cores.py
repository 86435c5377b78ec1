"""Use every core this process may run on, and the CPU's matrix units (AMX) where present.

MXNet 1.9.1 keeps one core for its engine thread when it sizes its OpenMP pool, so on a
2-core machine oneDNN ran every convolution on one thread: inference (ACM-U-Net, batch 8,
512x512) at 1.29 images/s instead of 2.42, a training step in 25 s instead of 13.

MXNet 1.9.1's oneDNN (2.4) uses AMX (Intel Xeon 4th generation on) only when
``DNNL_MAX_CPU_ISA=AVX512_CORE_AMX`` is set, and then dies with "Illegal instruction"
unless the process first asked Linux (5.16 on) for the AMX tile state; with both, bf16
inference ran 2.3x faster and INT8 1.15x on an AMX Xeon (MXNET-NOTES.md).
:func:`enable_amx` does both where the CPU and the kernel allow it; ``ACM_AMX=0`` turns it
off. Both settings are read once, when MXNet loads, so this module must be imported
before mxnet.
"""
import ctypes
import os
import sys

__all__ = ['use_all_cores', 'enable_amx', 'amx_state', 'cpu_flags']

#: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): x86-64 syscall number and arguments
_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA = 158, 0x1023, 18
_AMX_ISA = 'AVX512_CORE_AMX'
_OFF = ('0', 'off', 'no', 'false')
_amx_state = 'AMX: not checked (utils.cores was imported after MXNet)'


def use_all_cores():
    """Size MXNet's OpenMP pool to the usable cores unless ``OMP_NUM_THREADS`` is set.

    Returns False when MXNet is already loaded: too late for this process, though the
    setting still reaches the processes it starts.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    if not os.environ.get('OMP_NUM_THREADS'):
        os.environ['OMP_NUM_THREADS'] = str(cores or 1)
    return 'mxnet' not in sys.modules


def cpu_flags(path='/proc/cpuinfo'):
    """The feature flags of this CPU (empty where /proc/cpuinfo is missing)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def _request_tile_state():
    """0 when Linux grants this process the AMX tile state, else the errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) == 0:
        return 0
    return ctypes.get_errno() or -1


def enable_amx(environ=None, flags=None, request=_request_tile_state, mxnet_loaded=None):
    """Let oneDNN use AMX when the CPU has it (``amx_tile`` and ``amx_bf16`` flags), the
    kernel grants the tile state and neither ``ACM_AMX=0`` nor a ``DNNL_MAX_CPU_ISA`` of
    the user's says otherwise. Sets ``DNNL_MAX_CPU_ISA`` in ``environ``; returns one line
    saying what was decided and why (also kept for :func:`amx_state`). ``mxnet_loaded``
    (default: whether it is) makes it too late."""
    global _amx_state  # pylint: disable=global-statement
    environ = os.environ if environ is None else environ
    flags = cpu_flags() if flags is None else flags
    if environ.get('ACM_AMX', '').strip().lower() in _OFF:
        state = 'AMX: off (ACM_AMX=%s)' % environ['ACM_AMX']
    elif environ.get('DNNL_MAX_CPU_ISA'):
        state = 'AMX: left to DNNL_MAX_CPU_ISA=%s, set before start' % environ['DNNL_MAX_CPU_ISA']
    elif not {'amx_tile', 'amx_bf16'} <= flags:
        state = 'AMX: this CPU has none (oneDNN uses %s)' % (
            'AVX-512 with BF16' if 'avx512_bf16' in flags else
            'AVX-512' if 'avx512f' in flags else 'AVX2 or older')
    elif ('mxnet' in sys.modules) if mxnet_loaded is None else mxnet_loaded:
        state = 'AMX: not enabled (MXNet was loaded before utils.cores)'
    else:
        refused = request()
        if refused:
            state = ('AMX: the CPU has it but Linux refused the tile state (error %d; Linux '
                     '5.16 or later is needed); oneDNN uses AVX-512' % refused)
        else:
            environ['DNNL_MAX_CPU_ISA'] = _AMX_ISA
            state = 'AMX: on (DNNL_MAX_CPU_ISA=%s; ACM_AMX=0 turns it off)' % _AMX_ISA
    if environ is os.environ:
        _amx_state = state
    return state


def amx_state():
    """What :func:`enable_amx` decided for this process, in one line."""
    return _amx_state


use_all_cores()
enable_amx()
