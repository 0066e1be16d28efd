"""Training recipes whose every knob is in one place: the fast CIFAR-10 recipe."""
