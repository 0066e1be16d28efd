"""Datasets and what is done to images before a model sees them: the registry, readers, downloads, splits, augmentation, descriptors."""
