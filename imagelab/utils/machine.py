"""What machine a result was measured on, for the records and the benchmarks."""
import platform


def cpu_name():
    """The processor's model name, from /proc/cpuinfo on Linux, else what ``platform``
    says (its processor, else its machine type, e.g. "x86_64")."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
