"""Licence-plate models: the synthetic renderer, the networks, their training scripts and ONNX exports."""
