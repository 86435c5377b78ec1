"""Run a trained network on your own infrared images (no ground truth needed).

    python predict.py --net acm_unet --blocks 4 --pretrained --out preds/ img1.png folder/

Each image, of any size and PNG/JPEG/TIFF mode (16-bit and other wide pixels are scaled by
their bit depth, as the dataset reads them: data/files.py), is resized to --base-size (as
evaluation does); the logits are resized back, and <name>_mask.png (0/255, the input's size)
and <name>_overlay.png are written to --out. <name> is the input's file name without its
extension; inputs that share one (a/img.png and b/img.png, img.png and img.jpg) get -2,
-3... in input order, and the command says so. Existing outputs are kept unless --force.
"""
import utils.cores  # noqa: F401  (first: sizes MXNet's thread pool before it loads)
import os
import sys
from collections import Counter

import mxnet as mx
import numpy as np
from PIL import Image
from tqdm import tqdm

from data import normalize
from data.files import read_image, safe_join
from cli.devices import parse_contexts
from cli.loading import load_network
from cli.options import (CommandParser, add_device_options, add_model_options,
                         add_weights_options, side, weights_path)
from cli.outputs import OutputError, check_output_folder, output_folder
from engine.evaluation import resize_logits
from model import ParameterFileError
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


def output_names(files):
    """A distinct output name for every input file: its stem, or for the second and later
    inputs with the same stem that stem with -2, -3... (never another input's own stem)."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in files]
    own, used, names = Counter(stems), set(), []
    for stem in stems:
        name, number = stem, 1
        while name in used or (name != stem and name in own):
            number += 1
            name = '%s-%d' % (stem, number)
        used.add(name)
        names.append(name)
    return names


def plan_outputs(files, out, force=False):
    """``[(input, mask path, overlay path)]`` for the distinct inputs, with notes about
    renamed and repeated inputs; refuses to overwrite existing outputs unless ``force``."""
    distinct, notes = [], []
    seen = set()
    for path in files:
        real = os.path.realpath(path)
        if real in seen:
            notes.append('note: %s is given more than once; predicted once' % path)
        else:
            seen.add(real)
            distinct.append(path)
    plan = []
    for path, name in zip(distinct, output_names(distinct)):
        plan.append((path, safe_join(out, name + '_mask.png'),
                     safe_join(out, name + '_overlay.png')))
        if name != os.path.splitext(os.path.basename(path))[0]:
            notes.append('note: %s shares its name with an earlier input; written as '
                         '%s_mask.png and %s_overlay.png' % (path, name, name))
    existing = [p for _, mask, overlay in plan for p in (mask, overlay) if os.path.lexists(p)]
    if existing and not force:
        raise FileExistsError('%s exists%s; pass --force to overwrite, or choose another --out'
                              % (existing[0], ' (and %d more outputs)' % (len(existing) - 1)
                                 if len(existing) > 1 else ''))
    return plan, notes


def predict_image(net, image, base_size, ctx):
    """Logits (H, W) at the image's own size."""
    resized = image.resize((base_size, base_size), Image.BILINEAR)
    logits = net(mx.nd.array(normalize(resized)[None], ctx=ctx)).asnumpy()[0, 0]
    return resize_logits(logits, (image.size[1], image.size[0]))


def main(argv=None):
    parser = CommandParser(description=__doc__.split('\n\n')[0])
    add_model_options(parser)
    add_weights_options(parser)
    parser.add_argument('inputs', nargs='+', help='image files or folders of images')
    parser.add_argument('--out', default=os.path.join('runs', 'predict'))
    side(parser, '--base-size', default=512)
    add_device_options(parser)
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args, given = parser.parse(argv), parser.given(argv)
    try:
        weights_path(args)
        check_output_folder(args.out)
        plan, notes = plan_outputs(collect_images(args.inputs), args.out, args.force)
        ctx = parse_contexts(args.gpus)[0]
        net = load_network(args, [ctx], given=given)
        output_folder(args.out)
    except (ParameterFileError, FileNotFoundError, FileExistsError, OutputError,
            ValueError) as err:
        print('error: %s' % err, file=sys.stderr)
        return 2
    for note in notes:
        print(note)
    net.hybridize(static_alloc=True, static_shape=True)
    for path, mask_path, overlay_path in tqdm(plan, desc='predict', unit='image'):
        try:
            image = read_image(path)
        except ValueError as err:
            print('error: %s' % err, file=sys.stderr)
            return 2
        mask = predict_image(net, image, args.base_size, ctx) > 0
        Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
        overlay(image, mask).save(overlay_path)
    print('wrote %d masks and overlays to %s' % (len(plan), args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
