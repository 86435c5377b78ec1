"""The ResNet-20-style backbone pieces shared by both hosts: stems and residual stages."""
from mxnet.gluon import nn
from gluoncv.model_zoo.cifarresnet import CIFARBasicBlockV1

__all__ = ['STEMS', 'make_stem', 'make_stage']


def _paper_stem(stem, width, norm_layer, norm_kwargs):
    # Full resolution (paper Table 1): the only down-sampling is in stages 2 and 3.
    stem.add(nn.Conv2D(width * 2, kernel_size=3, strides=1, padding=1, use_bias=False))
    stem.add(norm_layer(in_channels=width * 2, **norm_kwargs))
    stem.add(nn.Activation('relu'))


def _regular_stem(stem, width, norm_layer, norm_kwargs):
    # ResNet's usual stem, 4x down-sampling before stage 1 (paper Table 2, Regular-ACM).
    for out_channels, stride in ((width, 2), (width, 1), (width * 2, 1)):
        stem.add(nn.Conv2D(out_channels, kernel_size=3, strides=stride, padding=1,
                           use_bias=False))
        stem.add(norm_layer(in_channels=out_channels, **norm_kwargs))
        stem.add(nn.Activation('relu'))
    stem.add(nn.MaxPool2D(pool_size=3, strides=2, padding=1))


#: stem name -> (builder that appends its layers, output stride relative to the input)
STEMS = {'paper': (_paper_stem, 1), 'regular': (_regular_stem, 4)}


def make_stem(kind, width, norm_layer=nn.BatchNorm, norm_kwargs=None):
    """Input normalisation (BN without scale/shift) followed by the chosen stem."""
    if kind not in STEMS:
        raise ValueError('Unknown stem %r; valid stems: %s' % (kind, ', '.join(STEMS)))
    norm_kwargs = norm_kwargs or {}
    stem = nn.HybridSequential(prefix='')
    stem.add(norm_layer(scale=False, center=False, **norm_kwargs))
    STEMS[kind][0](stem, width, norm_layer, norm_kwargs)
    return stem


def make_stage(num_blocks, channels, stride, in_channels, norm_layer=nn.BatchNorm,
               norm_kwargs=None):
    """``num_blocks`` GluonCV CIFAR basic blocks; the first one may stride and project."""
    stage = nn.HybridSequential(prefix='')
    downsample = channels != in_channels or stride != 1
    stage.add(CIFARBasicBlockV1(channels, stride, downsample, in_channels=in_channels,
                                prefix='', norm_layer=norm_layer, norm_kwargs=norm_kwargs))
    for _ in range(num_blocks - 1):
        stage.add(CIFARBasicBlockV1(channels, 1, False, in_channels=channels, prefix='',
                                    norm_layer=norm_layer, norm_kwargs=norm_kwargs))
    return stage
