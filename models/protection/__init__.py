"""Template protection (after AdvFace): shadow attackers, the protector network, their training.

Training needs the `train` extra (PyTorch, CPU); the kiosk runs only the exported ONNX protector.
"""
