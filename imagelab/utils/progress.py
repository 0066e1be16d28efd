"""A progress line that suits both a terminal and a log file."""
import sys


class Progress:
    """Report the progress of a long task on ``stream`` (default: ``sys.stderr``).

    On a terminal each update rewrites the line in place (a carriage return); on
    anything else (a file, a pipe) an update is printed as a plain line only when it
    reaches another tenth of ``total``, so a log gets about ten lines, not one line of
    every update glued together.

    Parameters
    ----------
    total : int or float
        The value of ``done`` at the end; 0 if unknown (then, off a terminal, only the
        first update is printed).
    stream : file-like, optional
    """

    def __init__(self, total, stream=None):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.terminal = self.stream.isatty()
        self.tenths = -1                      # the last tenth printed off a terminal

    def update(self, done, text):
        """Show ``text``, which says that ``done`` of ``total`` is done."""
        if self.terminal:
            print(f"\r{text}", end="", file=self.stream, flush=True)
            return
        tenths = int(10 * done // self.total) if self.total else 0
        if tenths > self.tenths:
            self.tenths = tenths
            print(text, file=self.stream, flush=True)

    def close(self):
        """End the line rewritten in place on a terminal."""
        if self.terminal:
            print(file=self.stream, flush=True)
