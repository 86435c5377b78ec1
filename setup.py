"""Install the ACM toolkit: ``pip install -e .`` (CPU) or see README for CUDA."""
import os

from setuptools import find_packages, setup

# GPU users: install mxnet-cu112 first and set ACM_MXNET=mxnet-cu112 (both wheels provide
# the same `mxnet` module and only one may be installed).
MXNET = os.environ.get('ACM_MXNET', 'mxnet') + '==1.9.1'
# export.py --format onnx. onnx 1.18.0 installs beside numpy 1.23 (it needs numpy>=1.22) and
# is the newest release that still has onnx.mapping, which mxnet.onnx 1.9.1 imports (1.19
# removed it). The tests export to ONNX, so the test extra has it too.
ONNX = 'onnx==1.18.0'

setup(
    name='acm-sirst',
    version='0.1.0',
    description='Asymmetric Contextual Modulation (ACM, WACV 2021) for single-frame infrared '
                'small target detection on SIRST, in MXNet/Gluon',
    python_requires='>=3.8',
    packages=find_packages(include=['model', 'data', 'metric', 'deployment', 'engine', 'cli', 'utils',
                                            'baselines']),
    py_modules=['train', 'evaluate', 'predict', 'export', 'benchmark'],
    package_data={'data': ['sirst-release.sha256']},
    install_requires=[
        MXNET,
        'numpy<1.24',  # MXNet 1.9.1 uses np.bool, removed in numpy 1.24
        'gluoncv==0.10.5.post0',
        'scipy',
        'matplotlib',
        'tqdm',
        'Pillow',
    ],
    extras_require={'test': ['pytest', ONNX], 'onnx': [ONNX]},
)
