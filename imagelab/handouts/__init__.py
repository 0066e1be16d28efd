"""What one course handout asks for by name, built on the general code: the NumPy-layers handout, the framework lab's tasks."""
