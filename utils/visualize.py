"""Pictures people would rather look at: ROC curves, side-by-side results, overlays."""
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

__all__ = ['plot_roc', 'side_by_side', 'overlay']


def plot_roc(roc_metric, path, title='ROC'):
    """Save the pixel ROC curve of a :class:`metric.ROCMetric` as a PNG."""
    fpr, tpr, _ = roc_metric.curve()
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.plot(fpr, tpr, lw=2, label='AUC = %.4f' % roc_metric.get()[1])
    ax.set_xscale('symlog', linthresh=1e-5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel('false-positive rate (pixels, symlog)')
    ax.set_ylabel('true-positive rate (pixels)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _as_rgb(binary):
    return Image.fromarray((np.asarray(binary) > 0).astype(np.uint8) * 255).convert('RGB')


def side_by_side(image, mask, prediction, path):
    """Input | ground truth | prediction, each at the image's size, saved as one PNG."""
    panels = [image.convert('RGB'), _as_rgb(mask).resize(image.size, Image.NEAREST),
              _as_rgb(prediction).resize(image.size, Image.NEAREST)]
    gap = 4
    canvas = Image.new('RGB', (image.size[0] * 3 + gap * 2, image.size[1]), (255, 255, 255))
    for i, panel in enumerate(panels):
        canvas.paste(panel, (i * (image.size[0] + gap), 0))
    canvas.save(path)


def overlay(image, prediction, color=(255, 0, 0), alpha=0.6):
    """The image with predicted target pixels tinted in ``color``."""
    base = np.asarray(image.convert('RGB'), dtype=np.float32)
    hit = np.asarray(prediction) > 0
    base[hit] = (1 - alpha) * base[hit] + alpha * np.array(color, dtype=np.float32)
    return Image.fromarray(base.astype(np.uint8))
