"""A small autograd framework: the Tensor, its modules, optimizers and data loaders."""
