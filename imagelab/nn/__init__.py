"""The layer stack: layers, convolution, batch norm, losses, update rules, the Network, architectures and model files."""
