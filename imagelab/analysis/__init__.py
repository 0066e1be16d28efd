"""Studies of trained models: robustness to light."""
