"""Cross-layer feature fusion modules of the ACM paper.

The original toolkit spelled out sixteen near-identical classes (eight modes, each with
and without a 1x1 reduction of the high-level input).  Here a single block,
:class:`CrossLayerFusion`, builds any of them from :data:`FUSION_MODES`, a table that says
which attention branches a mode owns and how it combines the two inputs.  Child names
(``feature_high``, ``topdown``, ``bottomup``, ``global_att``, ``attention``, ``post``) and
their layer order are those of the released checkpoint, so its parameters load unchanged.
"""
from collections import namedtuple

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

__all__ = ['CrossLayerFusion', 'FUSION_MODES', 'conv_bn_relu']


def conv_bn_relu(channels, kernel_size, norm_layer=nn.BatchNorm, norm_kwargs=None,
                 in_channels=0):
    """Conv (with bias) -> norm -> ReLU, the ``feature_high`` and ``post`` pattern."""
    block = nn.HybridSequential(prefix='')
    block.add(nn.Conv2D(channels, kernel_size=kernel_size, padding=kernel_size // 2,
                        in_channels=in_channels))
    block.add(norm_layer(**(norm_kwargs or {})))
    block.add(nn.Activation('relu'))
    return block


class GlobalAvgPool(HybridBlock):
    """Global average pooling to (B, C, 1, 1), as ``nn.GlobalAvgPool2D`` computes it.

    MXNet 1.9.1's global ``Pooling`` has a very slow backward pass on the CPU (3.1 s for a
    batch of 8 x 16 x 480 x 480, half a minute's training step spends 4.5 s there);
    ``AdaptiveAvgPooling2D`` to 1 x 1 is the same average with a fast backward pass.
    """

    def hybrid_forward(self, F, x):  # pylint: disable=arguments-differ
        return F.contrib.AdaptiveAvgPooling2D(x, output_size=1)


def _channel_attention(global_pool, out_channels_factor=1, bottleneck=True, sigmoid=True):
    """Factory for an attention branch: [GAP] -> 1x1 conv -> BN [-> ReLU -> 1x1 -> BN] [-> sigmoid].

    ``global_pool`` chooses global (one weight per channel) or point-wise (one weight per
    channel and pixel) context; ``bottleneck`` chooses the two-layer C -> C/r -> C form.
    """
    def build(channels, reduction, norm_layer, norm_kwargs):
        norm_kwargs = norm_kwargs or {}
        block = nn.HybridSequential(prefix='')
        block.global_context = global_pool  # its weights are (B, C, 1, 1): broadcast them
        if global_pool:
            block.add(GlobalAvgPool())
        if bottleneck:
            block.add(nn.Conv2D(channels // reduction, kernel_size=1))
            block.add(norm_layer(**norm_kwargs))
            block.add(nn.Activation('relu'))
        block.add(nn.Conv2D(channels * out_channels_factor, kernel_size=1))
        block.add(norm_layer(**norm_kwargs))
        if sigmoid:
            block.add(nn.Activation('sigmoid'))
        return block
    return build


# --- how each mode combines the high-level input xh and the low-level input xl -----------

def _modulate(F, x, weights, global_context):
    """``x`` scaled by attention ``weights``, (B, C, 1, 1) when ``global_context``."""
    # broadcast_like + elementwise product: the same numbers as broadcast_mul, but its
    # backward pass is 1.7x faster on the CPU, and 1.4x where no broadcast is needed.
    return x * (F.broadcast_like(weights, x) if global_context else weights)


def _bidirectional(fuse, F, xh, xl):
    # Eq. (5) of the paper, with the toolkit's factor 2 (taken out of the sum: doubling is
    # exact in floating point, so the result is bit-identical and one pass cheaper).
    return 2 * (_modulate(F, xl, fuse.topdown(xh), fuse.topdown.global_context) +
                _modulate(F, xh, fuse.bottomup(xl), fuse.bottomup.global_context))


def _topdown(fuse, F, xh, xl):
    return xh + _modulate(F, xl, F.sigmoid(fuse.global_att(xh)), fuse.global_att.global_context)


def _selective_kernel(fuse, F, xh, xl):
    weights = fuse.attention(xh + xl)                                # (B, 2C, 1, 1)
    weights = F.softmax(F.reshape(weights, (0, 2, -1, 0)), axis=1)   # (B, 2, C, 1)
    w_high = F.reshape(F.slice_axis(weights, axis=1, begin=0, end=1), (0, -1, 1, 1))
    w_low = F.reshape(F.slice_axis(weights, axis=1, begin=1, end=2), (0, -1, 1, 1))
    return 2 * (_modulate(F, xh, w_high, True) + _modulate(F, xl, w_low, True))


def _direct_add(fuse, F, xh, xl):
    return xh + xl


def _concat(fuse, F, xh, xl):
    return F.concat(xh, xl, dim=1)


FusionMode = namedtuple('FusionMode', ['branches', 'combine'])

#: mode name -> (attention branches as (child name, factory), combine rule)
FUSION_MODES = {
    # ACM: global top-down + point-wise bottom-up modulation
    'AsymBi': FusionMode(
        (('topdown', _channel_attention(global_pool=True)),
         ('bottomup', _channel_attention(global_pool=False))),
        _bidirectional),
    # point-wise attention in both directions
    'BiLocal': FusionMode(
        (('topdown', _channel_attention(global_pool=False)),
         ('bottomup', _channel_attention(global_pool=False))),
        _bidirectional),
    # global attention in both directions
    'BiGlobal': FusionMode(
        (('topdown', _channel_attention(global_pool=True)),
         ('bottomup', _channel_attention(global_pool=True))),
        _bidirectional),
    # GAU: global top-down attention only
    'TopDownGlobal': FusionMode(
        (('global_att', _channel_attention(True, bottleneck=False, sigmoid=False)),),
        _topdown),
    # point-wise top-down attention only
    'TopDownLocal': FusionMode(
        (('global_att', _channel_attention(False, bottleneck=False, sigmoid=False)),),
        _topdown),
    # selective-kernel soft selection between the two inputs
    'SK': FusionMode(
        (('attention', _channel_attention(True, out_channels_factor=2, sigmoid=False)),),
        _selective_kernel),
    'DirectAdd': FusionMode((), _direct_add),  # element-wise sum (plain FPN)
    'Concat': FusionMode((), _concat),  # channel concatenation (plain U-Net)
}


class CrossLayerFusion(HybridBlock):
    """Fuses a high-level feature ``xh`` with a low-level skip feature ``xl`` of ``channels``.

    Parameters
    ----------
    mode : str
        A key of :data:`FUSION_MODES`.
    channels : int
        Channels of ``xl`` and of the output.
    reduce_high : bool
        Map ``xh`` to ``channels`` first with a 1x1 conv, BN, ReLU (``feature_high``); the
        FPN host needs it because its high-level input is wider.
    reduction : int
        Channel reduction ratio r of the bottleneck attention branches.
    """

    def __init__(self, mode, channels, reduce_high=False, reduction=4,
                 norm_layer=nn.BatchNorm, norm_kwargs=None, **kwargs):
        super(CrossLayerFusion, self).__init__(**kwargs)
        if mode not in FUSION_MODES:
            raise ValueError('Unknown fusion mode %r; valid modes: %s'
                             % (mode, ', '.join(sorted(FUSION_MODES))))
        spec = FUSION_MODES[mode]
        self.mode = mode
        self._combine = spec.combine
        with self.name_scope():
            self.feature_high = (conv_bn_relu(channels, 1, norm_layer, norm_kwargs)
                                 if reduce_high else None)
            for name, build in spec.branches:
                setattr(self, name, build(channels, reduction, norm_layer, norm_kwargs))
            self.post = conv_bn_relu(channels, 3, norm_layer, norm_kwargs)

    def hybrid_forward(self, F, xh, xl):  # pylint: disable=arguments-differ
        if self.feature_high is not None:
            xh = self.feature_high(xh)
        return self.post(self._combine(self, F, xh, xl))
