"""Deployment forms of a trained network and the graph passes behind them.

``export`` writes and reads MXNet's ``-symbol.json`` / ``-0000.params`` pair and
``onnx_export`` the ONNX file; ``inference`` builds the execution forms (hybrid, folded,
oneDNN, INT8, bf16) that ``evaluate.py`` and ``benchmark.py`` run, from the graph passes of
``rewrites`` and ``folding``; ``calibration`` picks the images that calibrate INT8.
Nothing here trains: it takes a network with weights (``model``) and changes how it runs.
"""
