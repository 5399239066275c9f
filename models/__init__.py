"""The project's own models: training scripts, synthetic data and the shipped ONNX files."""
