"""A training run whose step really stalls, for ``test_multidevice.py``: one epoch on two
CPU contexts with the toolkit's batch norm across devices (a checkpoint), then the run
resumed by the trainer with MXNet 1.9.1's own ``SyncBatchNorm``, which deadlocks inside
the engine at its first step (docs/distributed.md). The run must end through the watchdog,
and the checkpoint must still resume.

    python tests/stall_worker.py SIRST_ROOT RUN_DIR STALL_TIMEOUT
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import utils.cores  # noqa: E402,F401
import mxnet as mx  # noqa: E402

from engine.config import TrainConfig  # noqa: E402
from engine.trainer import Trainer  # noqa: E402
from engine.workers import LocalWorker  # noqa: E402
from model import get_model  # noqa: E402


class CrossDeviceBatchNorm(mx.gluon.contrib.nn.SyncBatchNorm):
    """MXNet's operator-level SyncBatchNorm under the toolkit layer's class name, so that
    its parameters get the same names and order, and the checkpoint's optimizer states fit."""


class MXNetSyncBatchNormTrainer(Trainer):
    """The trainer, its network built with MXNet's SyncBatchNorm."""

    def _build_network(self):
        return get_model(self.config.net, blocks=self.config.blocks,
                         norm_layer=CrossDeviceBatchNorm,
                         norm_kwargs={'num_devices': len(self.ctx)})


def main(sirst_root, run_dir, stall_timeout):
    config = TrainConfig(blocks=1, base_size=64, crop_size=64, batch_size=4, epochs=2,
                         stop_after=1, workers=0, cpus=2, syncbn=True, data_root=sirst_root,
                         save_dir=run_dir, no_progress=True, stall_timeout=stall_timeout)
    os.makedirs(run_dir, exist_ok=True)
    config.save(run_dir)
    ctx = [mx.cpu(0), mx.cpu(1)]
    Trainer(config, ctx, LocalWorker(config.kvstore, stall_timeout)).run()
    config.resume, config.stop_after = run_dir, None
    MXNetSyncBatchNormTrainer(config, ctx, LocalWorker(config.kvstore, stall_timeout)).run()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
