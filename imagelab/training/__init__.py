"""Training a Network: the loop, metrics, test-time augmentation."""
