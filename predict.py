"""Run a trained network on your own infrared images (no ground truth needed).

    python predict.py --net acm_unet --blocks 4 --pretrained --out preds/ img1.png folder/

Each image, of any size and PNG/JPEG/TIFF mode (16-bit and other wide pixels are scaled by
their bit depth, as the dataset reads them: data/files.py), is resized to --base-size (as
evaluation does); the logits are resized back, and <name>_mask.png (0/255, the input's size)
and <name>_overlay.png are written to --out.
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import argparse
import os
import sys

import mxnet as mx
import numpy as np
from PIL import Image
from tqdm import tqdm

from data import normalize
from data.files import read_image
from model import CheckpointError
from utils.context import parse_contexts
from utils.evaluation import resize_logits
from utils.loading import add_model_arguments, load_network
from utils.visualize import overlay

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def collect_images(paths):
    """Image files named directly or found (non-recursively) in the named folders."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, n) for n in os.listdir(path)
                            if n.lower().endswith(IMAGE_SUFFIXES))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError('Input %s does not exist.' % path)
    if not files:
        raise FileNotFoundError('No images (%s) found in %s.' % (', '.join(IMAGE_SUFFIXES),
                                                                  ', '.join(paths)))
    return files


def predict_image(net, image, base_size, ctx):
    """Logits (H, W) at the image's own size."""
    resized = image.resize((base_size, base_size), Image.BILINEAR)
    logits = net(mx.nd.array(normalize(resized)[None], ctx=ctx)).asnumpy()[0, 0]
    return resize_logits(logits, (image.size[1], image.size[0]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_arguments(parser)
    parser.add_argument('inputs', nargs='+', help='image files or folders of images')
    parser.add_argument('--out', default=os.path.join('runs', 'predict'))
    parser.add_argument('--base-size', type=int, default=512)
    parser.add_argument('--gpus', default='')
    args = parser.parse_args(argv)
    try:
        files = collect_images(args.inputs)
        ctx = parse_contexts(args.gpus)[0]
        net = load_network(args, [ctx])
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    net.hybridize(static_alloc=True, static_shape=True)
    os.makedirs(args.out, exist_ok=True)
    for path in tqdm(files, desc='predict', unit='image'):
        try:
            image = read_image(path)
        except ValueError as err:
            print('error: %s' % err, file=sys.stderr)
            return 2
        mask = predict_image(net, image, args.base_size, ctx) > 0
        stem = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0])
        Image.fromarray(mask.astype(np.uint8) * 255).save(stem + '_mask.png')
        overlay(image, mask).save(stem + '_overlay.png')
    print('wrote %d masks and overlays to %s' % (len(files), args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
