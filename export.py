"""Export a network to <prefix>-symbol.json and <prefix>-0000.params, or to <prefix>.onnx.

    python export.py --net acm_unet --blocks 4 --pretrained --prefix deploy/acm_unet
    python export.py --net acm_unet --blocks 4 --pretrained --prefix deploy/acm_unet --fold-bn --rewrite
    python export.py --net acm_unet --blocks 4 --pretrained --prefix deploy/acm_unet --format onnx --check
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import os
import sys

import numpy as np
from PIL import Image

from data import normalize
from data.files import read_image
from model import ParameterFileError
from deployment.export import export_model, exported_files
from deployment.onnx_export import (CHECK_TOLERANCE, ONNX_OPSET, OnnxExportError, check_onnx,
                               export_onnx, onnx_path, require_onnx)
from cli.loading import load_network
from cli.options import (CommandParser, add_model_options, add_weights_options, side,
                         weights_path)
from cli.outputs import OutputError, export_prefix


def check_batches(size, image_files=()):
    """The two inputs ``--check`` runs: batch 1 at ``size`` (H, W) and batch 2 one pixel
    larger each way (odd sizes do not halve evenly: the dynamic shapes are exercised), from
    the given images (a second one is the first mirrored), else from seeded noise."""
    if image_files:
        images = [read_image(path) for path in image_files[:2]]
    else:
        pixels = np.random.RandomState(0).randint(0, 256, (size[0], size[1], 3), np.uint8)
        images = [Image.fromarray(pixels)]
    if len(images) == 1:
        images.append(images[0].transpose(Image.FLIP_LEFT_RIGHT))

    def batch(count, height, width):
        return np.stack([normalize(image.resize((width, height), Image.BILINEAR))
                         for image in images[:count]])
    return [batch(1, *size), batch(2, size[0] + 1, size[1] + 1)]


def main(argv=None):
    parser = CommandParser(description=__doc__.split('\n\n')[0])
    add_model_options(parser)
    add_weights_options(parser)
    parser.add_argument('--prefix', required=True, help='output prefix, e.g. deploy/acm_unet')
    parser.add_argument('--format', choices=('mxnet', 'onnx'), default='mxnet',
                        help='mxnet: <prefix>-symbol.json and <prefix>-0000.params; onnx: '
                             '<prefix>.onnx (opset %d, dynamic batch and size; needs '
                             "pip install -e '.[onnx]')" % ONNX_OPSET)
    parser.add_argument('--force', action='store_true', help='overwrite existing output files')
    side(parser, '--input-size', nargs=2, default=[512, 512], metavar=('H', 'W'),
         help='size of the one forward pass before export')
    parser.add_argument('--fold-bn', action='store_true',
                        help='fold batch norm into the convolutions (inference-only graph)')
    parser.add_argument('--rewrite', action='store_true',
                        help="apply deployment/rewrites.py's inference rewrites: less work, the same "
                             'logits up to float rounding (inference-only graph)')
    parser.add_argument('--check', action='store_true',
                        help='(onnx) run the file with onnx.reference at batch 1 and 2 and print '
                             'the largest logit difference to the network; exit 1 above %g of '
                             "the logits' scale" % CHECK_TOLERANCE)
    parser.add_argument('--check-image', action='append', default=[], metavar='IMAGE',
                        help='image(s) --check runs on (default: seeded noise)')
    side(parser, '--check-size', nargs=2, default=[64, 64], metavar=('H', 'W'),
         help='input size of --check (batch 2 runs one pixel larger each way)')
    args, given = parser.parse(argv), parser.given(argv)
    if args.check and args.format != 'onnx':
        parser.error('--check needs --format onnx')
    onnx = args.format == 'onnx'
    outputs = [onnx_path(args.prefix)] if onnx else list(exported_files(args.prefix))
    existing = [path for path in outputs if os.path.exists(path)]
    input_shape = (1, 3) + tuple(args.input_size)
    try:
        weights_path(args)
        export_prefix(args.prefix)
        if existing and not args.force:
            raise FileExistsError('%s exists; pass --force to overwrite' % ' and '.join(existing))
        if onnx:
            require_onnx()
        net = load_network(args, None, given=given)
        batches = check_batches(args.check_size, args.check_image) if args.check else None
        if onnx:
            export_onnx(net, outputs[0], input_shape, fold_bn=args.fold_bn, rewrite=args.rewrite)
        else:
            export_model(net, args.prefix, input_shape, fold_bn=args.fold_bn, rewrite=args.rewrite)
    except (ParameterFileError, FileNotFoundError, FileExistsError, OutputError,
            ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    print('wrote %s' % ' and '.join(outputs))
    if onnx:
        print('opset %d; input data (batch, 3, height, width), output logits (batch, classes, '
              'height, width); batch, height and width dynamic' % ONNX_OPSET)
    if not args.check:
        return 0
    try:
        results = check_onnx(outputs[0], net, batches)
    except OnnxExportError as err:
        print('error: %s' % err, file=sys.stderr)
        return 1
    for result in results:
        print('check (onnx.reference): batch %d at %dx%d: largest logit difference %.3g '
              '(logits up to %.3g)' % ((result['shape'][0],) + result['shape'][2:]
                                       + (result['max_diff'], result['scale'])))
    if not all(result['ok'] for result in results):
        print('error: the ONNX file differs from the network by more than %g of the logits\' '
              'scale' % CHECK_TOLERANCE, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
