"""The two host networks of the paper, FPN and U-Net, on the ResNet-20-style backbone.

Attribute names and the order in which children are registered follow the original
toolkit, so a checkpoint it saved loads by name and lists its arrays in the same order.
"""
import math

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from gluoncv.model_zoo.fcn import _FCNHead

from .backbone import STEMS, make_stage, make_stem
from .fusion import FUSION_MODES, CrossLayerFusion

__all__ = ['ACMFPN', 'ACMUNet', 'BASE_CHANNELS']

#: widths of stem, stage 1, stage 2 and stage 3 at channel_times = 1 (paper Table 1)
BASE_CHANNELS = (8, 16, 32, 64)


class _SegmentationHost(HybridBlock):
    """Shared set-up of both hosts: arguments, widths, stem, encoder stages and head."""

    def __init__(self, fusion='AsymBi', blocks=4, channel_times=1, stem='paper', classes=1,
                 norm_layer=nn.BatchNorm, norm_kwargs=None, **kwargs):
        super(_SegmentationHost, self).__init__(**kwargs)
        if fusion not in FUSION_MODES:
            raise ValueError('Unknown fusion mode %r; valid modes: %s'
                             % (fusion, ', '.join(sorted(FUSION_MODES))))
        if stem not in STEMS:
            raise ValueError('Unknown stem %r; valid stems: %s' % (stem, ', '.join(STEMS)))
        if int(blocks) != blocks or blocks < 1:
            raise ValueError('blocks must be a positive integer (the paper uses 1..4), got %r'
                             % (blocks,))
        if channel_times <= 0 or int(BASE_CHANNELS[0] * channel_times) < 4:
            raise ValueError('channel_times must be positive and leave at least 4 stem '
                             'channels, got %r' % (channel_times,))
        self.fusion, self.blocks, self.stem_kind = fusion, int(blocks), stem
        self.channel_times, self.classes = channel_times, classes
        self.channels = [int(c * channel_times) for c in BASE_CHANNELS]
        self._norm = {'norm_layer': norm_layer, 'norm_kwargs': norm_kwargs}
        with self.name_scope():
            self.stem = make_stem(stem, self.channels[0], **self._norm)
            self._build()

    def _build(self):
        raise NotImplementedError

    def _add_encoder(self):
        c, b = self.channels, self.blocks
        self.layer1 = make_stage(b, c[1], 1, c[1], **self._norm)
        self.layer2 = make_stage(b, c[2], 2, c[1], **self._norm)
        self.layer3 = make_stage(b, c[3], 2, c[2], **self._norm)

    def _add_head(self):
        self.head = _FCNHead(in_channels=self.channels[1], channels=self.classes, **self._norm)

    def set_output_prior(self, prior):
        """Set the bias of the last layer so that every pixel starts at target probability
        ``prior`` (as detection heads do for rare positives); ``prior=0.5`` gives bias 0.

        Call after initialisation. Targets cover about 0.06 % of SIRST's pixels: starting
        every pixel near 0.5 makes the batch-level Soft-IoU's gradients vanishingly small.
        """
        if not 0 < prior < 1:
            raise ValueError('the output prior must be in (0, 1), got %r' % (prior,))
        bias = self.head.block[-1].bias
        bias.set_data(bias.data().ones_like() * math.log(prior / (1 - prior)))

    def _fusion(self, channels, reduce_high):
        return CrossLayerFusion(self.fusion, channels, reduce_high=reduce_high, **self._norm)

    def _encode(self, x):
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        return c1, c2, self.layer3(c2)

    def _to_input_size(self, F, logits, x):
        # Only the regular stem works below input resolution; resizing "like" the input
        # keeps the graph free of Python-side shapes.
        if STEMS[self.stem_kind][1] == 1:
            return logits
        return F.contrib.BilinearResize2D(logits, like=x, mode='like')


class ACMFPN(_SegmentationHost):
    """FPN host: top-down path with bilinear up-sampling and a fusion at each scale.

    Input (B, 3, H, W) normalised RGB; output (B, classes, H, W) logits.
    """

    def _build(self):
        self._add_head()  # the toolkit registered the FPN head right after the stem
        self._add_encoder()
        self.fuse23 = self._fusion(self.channels[2], reduce_high=True)
        self.fuse12 = self._fusion(self.channels[1], reduce_high=True)

    def hybrid_forward(self, F, x):  # pylint: disable=arguments-differ
        c1, c2, out = self._encode(x)
        out = self.fuse23(F.contrib.BilinearResize2D(out, like=c2, mode='like'), c2)
        out = self.fuse12(F.contrib.BilinearResize2D(out, like=c1, mode='like'), c1)
        return self._to_input_size(F, self.head(out), x)


class ACMUNet(_SegmentationHost):
    """U-Net host: transposed-conv up-sampling, a fusion and a residual stage per scale.

    Input (B, 3, H, W) normalised RGB; output (B, classes, H, W) logits.
    """

    def _build(self):
        c, b = self.channels, self.blocks
        self._add_encoder()
        self.deconv2 = nn.Conv2DTranspose(c[2], kernel_size=4, strides=2, padding=1)
        self.uplayer2 = make_stage(b, c[2], 1, c[2], **self._norm)
        self.fuse2 = self._fusion(c[2], reduce_high=False)
        self.deconv1 = nn.Conv2DTranspose(c[1], kernel_size=4, strides=2, padding=1)
        self.uplayer1 = make_stage(b, c[1], 1, c[1], **self._norm)
        self.fuse1 = self._fusion(c[1], reduce_high=False)
        self._add_head()

    def hybrid_forward(self, F, x):  # pylint: disable=arguments-differ
        c1, c2, c3 = self._encode(x)
        # A stride-2 transposed conv doubles the size; cropping to the skip feature makes
        # odd input sizes work and is a no-op for sizes divisible by 4.
        up = F.slice_like(self.deconv2(c3), c2, axes=(2, 3))
        up = self.uplayer2(self.fuse2(up, c2))
        up = F.slice_like(self.deconv1(up), c1, axes=(2, 3))
        up = self.uplayer1(self.fuse1(up, c1))
        return self._to_input_size(F, self.head(up), x)
