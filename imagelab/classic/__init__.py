"""The lab's classifiers and their study: k-nearest neighbours, the one-hidden-layer MLP, cross-validation."""
