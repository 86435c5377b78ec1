"""Batch norm over a batch split across devices, without blocking MXNet's engine.

MXNet 1.9.1's ``SyncBatchNorm`` exchanges each layer's statistics inside the operator: a
device's worker thread waits at a barrier until every other device has run the same layer.
Any dependency between the waiting operator and work the other device must do first (on
the CPU, the temporary-space copies that every CPU context draws in turn from one shared
pool) turns that wait into a deadlock: ``--cpus 2 --syncbn`` stopped after a fixed number
of steps, set by the number of copies (docs/distributed.md).

:class:`CrossDeviceBatchNorm` exchanges the statistics in the graph instead: each device
sums its share (sum of x and of x squared over batch and space), the sums of the other
devices are copied over, and every device normalises with the same mean and variance.
The waiting happens in Python, between the threads that push each device's operators
(:func:`record_on_devices`), never inside an operator: the engine only ever sees ordinary
operators and copies, and autograd differentiates through the copies, so the backward
pass needs no synchronisation at all. The parameters, their names and the inference
graph are those of ``nn.BatchNorm``, so a network trained with it saves, loads and
exports as any other.
"""
import threading

import mxnet as mx
from mxnet import autograd
from mxnet.gluon import nn

__all__ = ['CrossDeviceBatchNorm', 'record_on_devices', 'has_cross_device_norm',
           'finish_deferred_init', 'DeviceGroupBroken']

#: seconds a device's thread waits for the others at one layer before giving up (each
#: thread only pushes operators, so the others arrive within milliseconds unless one
#: of them failed, which breaks the group at once)
EXCHANGE_TIMEOUT = 600.0

_lockstep = threading.local()  # .group and .rank inside record_on_devices' threads


class DeviceGroupBroken(RuntimeError):
    """A device's forward pass failed, so the others cannot finish theirs."""


class _DeviceGroup(object):
    """The devices of one :func:`record_on_devices` call: one exchange per layer."""

    def __init__(self, size):
        self.size = size
        self._barrier = threading.Barrier(size, timeout=EXCHANGE_TIMEOUT)
        self._slots = {}
        self._lock = threading.Lock()

    def all_gather(self, layer, rank, value):
        """Every device's ``value`` for ``layer``, in device order (called by each
        device's thread with its own ``rank``)."""
        with self._lock:
            slots = self._slots.setdefault(id(layer), [None] * self.size)
        slots[rank] = value
        self._wait()
        values = list(slots)
        self._wait()  # nobody may overwrite a slot before every device has read them
        return values

    def _wait(self):
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            raise DeviceGroupBroken('another device failed in the same pass') from None

    def abort(self):
        self._barrier.abort()


class CrossDeviceBatchNorm(nn.BatchNorm):
    """``nn.BatchNorm`` whose training statistics span every device of a
    :func:`record_on_devices` pass (the whole batch, as on one device); anywhere else
    (inference, export, a single device) it is ``nn.BatchNorm``.

    ``num_devices`` is accepted for the signature of ``SyncBatchNorm`` and not needed: the
    devices are those of the pass.
    """

    def __init__(self, num_devices=None, **kwargs):  # pylint: disable=unused-argument
        super(CrossDeviceBatchNorm, self).__init__(**kwargs)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        # pylint: disable=arguments-differ
        group = getattr(_lockstep, 'group', None)
        if F is not mx.nd or group is None or not autograd.is_training():
            return super(CrossDeviceBatchNorm, self).hybrid_forward(
                F, x, gamma, beta, running_mean, running_var)
        axis = self._kwargs['axis'] % x.ndim
        others = tuple(i for i in range(x.ndim) if i != axis)
        count = x.size // x.shape[axis]
        shares = group.all_gather(self, _lockstep.rank,
                                  (x.sum(axis=others), (x * x).sum(axis=others), count))
        here = x.context
        total = sum(share[2] for share in shares)
        mean = mx.nd.add_n(*[share[0].as_in_context(here) for share in shares]) / total
        square = mx.nd.add_n(*[share[1].as_in_context(here) for share in shares]) / total
        var = mx.nd.relu(square - mean * mean)  # the biased variance, as BatchNorm's
        shape = [1] * x.ndim
        shape[axis] = -1
        scale = 1.0 / mx.nd.sqrt(var + self._kwargs['eps'])
        if not self._kwargs['fix_gamma']:
            scale = scale * gamma
        out = mx.nd.broadcast_add(
            mx.nd.broadcast_mul(mx.nd.broadcast_sub(x, mean.reshape(shape)),
                                scale.reshape(shape)), beta.reshape(shape))
        momentum = self._kwargs['momentum']
        with autograd.pause():
            running_mean[:] = running_mean * momentum + mean.detach() * (1 - momentum)
            running_var[:] = running_var * momentum + var.detach() * (1 - momentum)
        return out


def has_cross_device_norm(net):
    """Whether ``net`` holds a :class:`CrossDeviceBatchNorm` (whose passes over several
    devices must go through :func:`record_on_devices`)."""
    if isinstance(net, CrossDeviceBatchNorm):
        return True
    # pylint: disable=protected-access
    return any(has_cross_device_norm(child) for child in net._children.values())


def finish_deferred_init(net, sample):
    """Give every parameter of ``net`` its shape and value now, from one inference pass
    on ``sample``, if some still wait for their first forward pass: Gluon completes them
    there, and two devices' threads must not both do it at once."""
    # pylint: disable=protected-access
    if any(param._deferred_init for param in net.collect_params().values()):
        with autograd.pause():
            net(sample)


def record_on_devices(function, per_device, lockstep=True):
    """``[function(*args) for args in per_device]`` recorded by autograd in training mode,
    each device's call in a thread of its own when ``lockstep`` and there are several
    (their :class:`CrossDeviceBatchNorm` layers meet there). The first failure of any
    device is raised once every thread has stopped."""
    per_device = list(per_device)
    if not lockstep or len(per_device) < 2:
        with autograd.record(train_mode=True):
            return [function(*args) for args in per_device]
    group = _DeviceGroup(len(per_device))
    results, errors = [None] * len(per_device), [None] * len(per_device)

    def run(rank, args):
        _lockstep.group, _lockstep.rank = group, rank
        try:
            with autograd.record(train_mode=True):  # recording is per thread in MXNet
                results[rank] = function(*args)
        except BaseException as err:  # pylint: disable=broad-except
            errors[rank] = err
            group.abort()
        finally:
            _lockstep.group = None

    threads = [threading.Thread(target=run, args=(rank, args), name='device-%d' % rank,
                                daemon=True)
               for rank, args in enumerate(per_device)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [err for err in errors if err is not None]
    if failures:
        first = next((err for err in failures if not isinstance(err, DeviceGroupBroken)),
                     failures[0])
        raise first
    return results
