"""Downloads that leave nothing half-done: checked files, temporary folders, mirrors.

A download works in a temporary folder named ``<prefix><host>-<pid>-<random>`` beside
its target (``work_folder``) and moves its result into place only once it is verified,
so an interrupted or failed download never leaves a file that a later run would trust.
A download killed outright (SIGKILL, SIGTERM) cannot remove its folder;
``remove_stale_downloads`` does it at the next run. ``download_file`` checks a file's
length and MD5 checksum; ``download_from_mirrors`` tries several URLs in turn.
"""
import contextlib
import hashlib
import http.client
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request

from imagelab.utils.progress import Progress

# A download folder older than this is stale even if its process id is in use again.
STALE_SECONDS = 24 * 3600


class DownloadError(OSError):
    """A file could not be downloaded, verified or unpacked."""


def download_file(url, path, md5):
    """Download ``url`` to ``path``, showing progress; check its length and MD5.

    Raises
    ------
    DownloadError
        If the transfer fails, stops short of its announced length, or the file's MD5
        is not ``md5``; the message names ``url``.
    """
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            size = f" of {total / 1e6:.1f}" if total else ""
            line = Progress(total)
            done = 0
            while chunk := response.read(1 << 20):
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                line.update(done, f"  {done / 1e6:.1f}{size} MB")
        line.close()
    except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
        raise DownloadError(f"could not download {url}: {error}") from error
    if total and done != total:
        raise DownloadError(f"download of {url} stopped after {done} of {total} bytes")
    if digest.hexdigest() != md5:
        raise DownloadError(f"{url} has MD5 {digest.hexdigest()}, expected {md5}: "
                            "the file is corrupt or not the one expected")


def download_from_mirrors(urls, path, md5):
    """Download to ``path`` the file of checksum ``md5`` from the first of ``urls`` that serves it.

    Every mirror's file is checked by ``download_file`` (length and MD5); a failure
    is reported on stderr and the next mirror tried.

    Parameters
    ----------
    urls : sequence of str
        The file's URLs, in the order to try them.
    path : str
    md5 : str
        The expected MD5 checksum, whatever mirror serves the file.

    Returns
    -------
    str : the URL that served the file.

    Raises
    ------
    DownloadError
        If no mirror served it; the message gives each URL's failure.
    """
    failures = []
    for url in urls:
        try:
            download_file(url, path, md5)
            return url
        except DownloadError as error:
            failures.append(str(error))
            print(f"  {error}", file=sys.stderr)
    raise DownloadError("; ".join(failures))


@contextlib.contextmanager
def work_folder(folder, prefix):
    """A new folder ``<folder>/<prefix><host>-<pid>-<random>``, removed when the block ends.

    Its name records the host and the process that works in it, for
    ``remove_stale_downloads``. ``folder`` is created if needed.
    """
    os.makedirs(folder, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f"{prefix}{socket.gethostname()}-{os.getpid()}-",
                            dir=folder)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _is_stale(folder, name, prefix):
    """Whether the download folder ``name`` in ``folder`` was left by a process now gone.

    Its name records the host and the process id of the download; on this host the
    folder is stale when that process no longer runs. Any download folder untouched
    for ``STALE_SECONDS`` is stale too (a process id may be reused, and another host's
    processes cannot be seen).
    """
    try:
        age = time.time() - os.path.getmtime(os.path.join(folder, name))
    except OSError:                         # removed meanwhile
        return False
    host, _, pid = name[len(prefix):].rpartition("-")[0].rpartition("-")
    if age > STALE_SECONDS:
        return True
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)                # signal 0: only asks whether it exists
    except ProcessLookupError:
        return True
    except PermissionError:                 # it runs, as another user
        pass
    return False


def remove_stale_downloads(folder, prefix):
    """Remove the folders ``<prefix>*`` in ``folder`` whose download is gone (``_is_stale``).

    Says so on stderr for each one.
    """
    try:
        names = os.listdir(folder)
    except OSError:                         # no folder yet: nothing to clean
        return
    for name in sorted(names):
        if name.startswith(prefix) and _is_stale(folder, name, prefix):
            path = os.path.join(folder, name)
            shutil.rmtree(path, ignore_errors=True)
            print(f"removed {path}, the partial download of an interrupted run",
                  file=sys.stderr)
