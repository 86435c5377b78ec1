"""The released ACM-U-Net gives the same logits imperative, hybridized and exported."""
import mxnet as mx
import numpy as np
import pytest

from data import SIRSTSegmentation
from model import export_model, get_model, import_model

pytestmark = pytest.mark.integration  # whole evaluations, training runs, several processes


def test_released_logits_agree_across_execution_forms(sirst_root, checkpoint_dir, tmp_path):
    dataset = SIRSTSegmentation(sirst_root, split='test', mode='testval')
    images = mx.nd.array(np.stack([dataset[i][0] for i in range(2)]))
    net = get_model('acm_unet', blocks=4, pretrained=True, root=checkpoint_dir)
    imperative = net(images).asnumpy()
    # the released network finds targets on real images
    masks = np.stack([dataset[i][1] for i in range(2)])
    assert ((imperative > 0) & (masks > 0)).sum() > 0.5 * (masks > 0).sum()

    net.hybridize(static_alloc=True, static_shape=True)
    hybrid = net(images).asnumpy()
    np.testing.assert_allclose(hybrid, imperative, rtol=1e-4, atol=1e-4)

    symbol_file, _ = export_model(net, str(tmp_path / 'acm_unet'), input_shape=(2, 3, 512, 512))
    exported = import_model(symbol_file)(images).asnumpy()
    np.testing.assert_allclose(exported, imperative, rtol=1e-4, atol=1e-4)
