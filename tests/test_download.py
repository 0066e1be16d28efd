"""Tests of read_cifar.ensure_cifar against a local HTTP server on 127.0.0.1 (no internet)."""
import hashlib
import http.server
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import pytest

from conftest import ROOT, make_cifar_folder
from imagelab.data.download import STALE_SECONDS, DownloadError
from imagelab.data.cifar import BATCH_FILES, BATCH_FOLDER, DOWNLOAD_PREFIX, ensure_cifar, read_cifar


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serve ``server.routes[path] = (body, declared_length)``; 404 for other paths."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path not in self.server.routes:
            self.send_error(404)
            return
        body, length = self.server.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)  # then the connection closes (HTTP/1.0), even if short

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Talk to 127.0.0.1 directly even if http_proxy is set (urllib checks no_proxy per request)."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1")


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 (free port), shut down after the test.

    ``server.serve(path, body, length=None)`` publishes ``body`` and returns its URL;
    ``length`` overrides the Content-Length header. ``server.requests`` lists the paths
    asked for.
    """
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []

    def serve(path, body, length=None):
        httpd.routes[path] = (body, len(body) if length is None else length)
        return f"http://127.0.0.1:{httpd.server_address[1]}{path}"

    httpd.serve = serve
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def make_archive(tmp_path, members=BATCH_FILES, extra=()):
    """A tiny cifar-10-python.tar.gz: (bytes, md5, data, labels).

    ``members`` are the batch files put under cifar-10-batches-py/; ``extra`` holds
    (name, content) pairs added as they are, after them.
    """
    source = tmp_path / "source"
    data, labels = make_cifar_folder(source, seed=5)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in members:
            tar.add(source / name, arcname=f"{BATCH_FOLDER}/{name}")
        for name, content in extra:
            info = tarfile.TarInfo(name)  # any name, "../" included: TarInfo keeps it
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    body = buffer.getvalue()
    return body, hashlib.md5(body).hexdigest(), data, labels


def all_files(folder):
    """Every file and folder under ``folder``, as paths relative to it."""
    found = []
    for parent, dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(parent, n), folder) for n in dirs + files]
    return sorted(found)


def test_download_extracts_a_good_archive(tmp_path, server):
    body, md5, data, labels = make_archive(tmp_path)
    url = server.serve("/cifar-10-python.tar.gz", body)
    data_dir = tmp_path / "new" / "data"  # created on the way

    folder = ensure_cifar(str(data_dir), url=url, md5=md5)

    assert folder == os.path.join(str(data_dir), BATCH_FOLDER)
    assert server.requests == ["/cifar-10-python.tar.gz"]
    assert os.listdir(data_dir) == [BATCH_FOLDER]  # no temporary folder left
    assert sorted(os.listdir(folder)) == sorted(BATCH_FILES)
    read_data, read_labels = read_cifar(folder)
    np.testing.assert_array_equal(read_data, data.astype(np.float32))
    np.testing.assert_array_equal(read_labels, labels)
    # A second call finds the data and asks nothing.
    assert ensure_cifar(str(data_dir), url=url, md5=md5) == folder
    assert len(server.requests) == 1


def test_data_already_present_makes_no_request(tmp_path, server):
    make_cifar_folder(tmp_path / BATCH_FOLDER)
    url = server.serve("/cifar-10-python.tar.gz", b"never sent")
    assert ensure_cifar(str(tmp_path), url=url, md5="0" * 32) == str(tmp_path / BATCH_FOLDER)
    assert ensure_cifar(str(tmp_path), download=False, url=url) == str(tmp_path / BATCH_FOLDER)
    assert server.requests == []


def test_wrong_checksum_leaves_nothing(tmp_path, server):
    body, md5, _, _ = make_archive(tmp_path)
    url = server.serve("/cifar-10-python.tar.gz", body)
    data_dir = tmp_path / "data"
    wrong = "0" * 32
    with pytest.raises(DownloadError, match="MD5") as info:
        ensure_cifar(str(data_dir), url=url, md5=wrong)
    assert url in str(info.value) and wrong in str(info.value)
    assert server.requests == ["/cifar-10-python.tar.gz"]
    assert os.listdir(data_dir) == []  # neither cifar-10-batches-py nor a temporary folder


def test_truncated_transfer_leaves_nothing(tmp_path, server):
    body, md5, _, _ = make_archive(tmp_path)
    # The server announces the whole archive but sends only half of it, then closes.
    url = server.serve("/cifar-10-python.tar.gz", body[:len(body) // 2], length=len(body))
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        ensure_cifar(str(data_dir), url=url, md5=md5)
    message = str(info.value)
    assert url in message and f"{len(body) // 2} of {len(body)} bytes" in message
    assert os.listdir(data_dir) == []


def test_http_error_is_a_download_error(tmp_path, server):
    url = server.serve("/served", b"").replace("/served", "/cifar-10-python.tar.gz")  # 404
    with pytest.raises(DownloadError, match="404") as info:
        ensure_cifar(str(tmp_path / "data"), url=url, md5="0" * 32)
    assert url in str(info.value)
    assert os.listdir(tmp_path / "data") == []


def test_unreachable_server_is_a_download_error(tmp_path):
    # A port bound but not listening on 127.0.0.1 refuses connections at once.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/cifar-10-python.tar.gz"
        with pytest.raises(DownloadError, match="could not download") as info:
            ensure_cifar(str(tmp_path / "data"), url=url, md5="0" * 32)
    assert url in str(info.value)
    assert os.listdir(tmp_path / "data") == []


@pytest.mark.parametrize("name", ["../../../escaped.txt", "../escaped.txt",
                                  f"{BATCH_FOLDER}/../../../escaped.txt"])
def test_archive_escaping_the_target_is_refused(tmp_path, server, name):
    body, md5, _, _ = make_archive(tmp_path, extra=[(name, b"outside!")])
    url = server.serve("/cifar-10-python.tar.gz", body)
    data_dir = tmp_path / "data"  # "../../../" from data/.cifar-download-*/extracted/
    with pytest.raises(DownloadError) as info:
        ensure_cifar(str(data_dir), url=url, md5=md5)
    assert url in str(info.value)
    assert os.listdir(data_dir) == []  # the batches extracted before it are gone too
    # Nothing written anywhere in the test's folder but the archive's source files.
    assert [path for path in all_files(tmp_path) if "escaped" in path] == []


def test_archive_member_with_an_absolute_path_stays_inside(tmp_path, server):
    # Like GNU tar, the "data" filter strips the leading "/": the member lands inside the
    # temporary folder, and only cifar-10-batches-py is kept from it.
    absolute = tmp_path / "escaped.txt"  # inside tmp_path, so that a bug stays contained
    body, md5, _, _ = make_archive(tmp_path, extra=[(str(absolute), b"outside!")])
    url = server.serve("/cifar-10-python.tar.gz", body)
    data_dir = tmp_path / "data"
    folder = ensure_cifar(str(data_dir), url=url, md5=md5)
    assert not absolute.exists()
    assert os.listdir(data_dir) == [BATCH_FOLDER]
    assert sorted(os.listdir(folder)) == sorted(BATCH_FILES)


def test_archive_with_a_link_out_of_the_target_is_refused(tmp_path, server):
    source = tmp_path / "source"
    make_cifar_folder(source)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in BATCH_FILES[:-1]:
            tar.add(source / name, arcname=f"{BATCH_FOLDER}/{name}")
        link = tarfile.TarInfo(f"{BATCH_FOLDER}/test_batch")  # points at a file out there
        link.type, link.linkname = tarfile.SYMTYPE, str(source / "test_batch")
        tar.addfile(link)
    body = buffer.getvalue()
    url = server.serve("/c.tar.gz", body)
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError):
        ensure_cifar(str(data_dir), url=url, md5=hashlib.md5(body).hexdigest())
    assert os.listdir(data_dir) == []


def test_archive_lacking_a_batch_is_refused(tmp_path, server):
    body, md5, _, _ = make_archive(tmp_path, members=BATCH_FILES[:-1])  # no test_batch
    url = server.serve("/cifar-10-python.tar.gz", body)
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError, match="lacks cifar-10-batches-py/test_batch") as info:
        ensure_cifar(str(data_dir), url=url, md5=md5)
    assert url in str(info.value)
    assert os.listdir(data_dir) == []


def test_file_that_is_not_an_archive_is_refused(tmp_path, server):
    body = b"<html>a login page, say</html>"
    url = server.serve("/cifar-10-python.tar.gz", body)
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError, match="could not extract") as info:
        ensure_cifar(str(data_dir), url=url, md5=hashlib.md5(body).hexdigest())
    assert url in str(info.value)  # the "do it by hand" advice names it
    assert os.listdir(data_dir) == []


def test_download_off_and_data_missing(tmp_path, server):
    url = server.serve("/cifar-10-python.tar.gz", b"never sent")
    target = os.path.join(str(tmp_path), BATCH_FOLDER)
    with pytest.raises(FileNotFoundError, match="downloads are off") as info:
        ensure_cifar(str(tmp_path), download=False, url=url)
    assert url in str(info.value) and target in str(info.value)
    assert server.requests == []
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("download", [True, False])
def test_incomplete_folder_is_left_untouched(tmp_path, server, download):
    target = tmp_path / BATCH_FOLDER
    make_cifar_folder(target)
    os.remove(target / "data_batch_5")
    os.remove(target / "test_batch")
    (target / "notes.txt").write_text("mine")
    before = {name: (target / name).read_bytes() for name in os.listdir(target)}
    url = server.serve("/cifar-10-python.tar.gz", b"never sent")

    with pytest.raises(FileNotFoundError) as info:
        ensure_cifar(str(tmp_path), download=download, url=url, md5="0" * 32)

    message = str(info.value)
    assert f"{target} lacks data_batch_5, test_batch." in message
    assert url in message
    assert {name: (target / name).read_bytes() for name in os.listdir(target)} == before
    assert os.listdir(tmp_path) == [BATCH_FOLDER]
    assert server.requests == []


# ---------------------------------------------------------------- either folder; stale downloads

def test_data_dir_may_be_the_batch_folder_itself(tmp_path, server):
    make_cifar_folder(tmp_path / BATCH_FOLDER)
    url = server.serve("/cifar-10-python.tar.gz", b"never sent")
    for given in (tmp_path / BATCH_FOLDER, f"{tmp_path / BATCH_FOLDER}/"):
        assert ensure_cifar(str(given), url=url, md5="0" * 32) == str(tmp_path / BATCH_FOLDER)
    assert server.requests == []
    assert os.listdir(tmp_path) == [BATCH_FOLDER]
    assert sorted(os.listdir(tmp_path / BATCH_FOLDER)) == sorted(BATCH_FILES)   # none nested


def test_a_missing_batch_folder_named_itself_is_downloaded_in_place(tmp_path, server):
    body, md5, _, _ = make_archive(tmp_path)
    url = server.serve("/cifar-10-python.tar.gz", body)
    target = tmp_path / "data" / BATCH_FOLDER
    assert ensure_cifar(str(target), url=url, md5=md5) == str(target)
    assert os.listdir(tmp_path / "data") == [BATCH_FOLDER]
    assert sorted(os.listdir(target)) == sorted(BATCH_FILES)


def download_folder(data_dir, pid, host=None, age=0):
    """A partial download folder as ensure_cifar names it, ``age`` seconds old."""
    host = socket.gethostname() if host is None else host
    folder = data_dir / f"{DOWNLOAD_PREFIX}{host}-{pid}-ab_12cd"
    folder.mkdir(parents=True)
    (folder / "cifar-10-python.tar.gz").write_bytes(b"half an archive")
    when = time.time() - age
    os.utime(folder, (when, when))
    return folder


def gone_pid():
    """The process id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_partial_downloads_are_removed_and_reported(tmp_path, capsys):
    make_cifar_folder(tmp_path / BATCH_FOLDER)
    dead = download_folder(tmp_path, gone_pid())
    old = download_folder(tmp_path, os.getpid(), host="elsewhere", age=STALE_SECONDS + 60)
    old_style = download_folder(tmp_path, "x", host="", age=STALE_SECONDS + 60)
    running = download_folder(tmp_path, os.getpid())                  # this very process
    other_host = download_folder(tmp_path, gone_pid(), host="elsewhere")

    ensure_cifar(str(tmp_path), download=False)

    assert sorted(os.listdir(tmp_path)) == sorted([BATCH_FOLDER, running.name, other_host.name])
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"removed {tmp_path / name}, the partial download of an interrupted run"
                     for name in sorted([dead.name, old.name, old_style.name])]


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_download_is_cleaned_by_the_next_run(tmp_path, capsys, signal_number):
    data_dir = tmp_path / "data"
    with socket.socket() as silent:              # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/cifar-10-python.tar.gz"
        code = (f"import sys; sys.path.insert(0, {ROOT!r}); from imagelab.data.cifar import ensure_cifar; "
                f"ensure_cifar({str(data_dir)!r}, url={url!r})")
        child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not (data_dir.is_dir() and os.listdir(data_dir)):
                assert time.monotonic() < deadline and child.poll() is None
                time.sleep(0.02)
        finally:
            child.send_signal(signal_number)
            child.wait()
    [partial] = os.listdir(data_dir)
    assert partial.startswith(DOWNLOAD_PREFIX)

    with pytest.raises(FileNotFoundError, match="downloads are off"):
        ensure_cifar(str(data_dir), download=False)

    assert os.listdir(data_dir) == []
    assert capsys.readouterr().err == (f"removed {data_dir / partial}, the partial download of "
                                       "an interrupted run\n")


def test_download_progress_is_plain_lines_in_a_log(tmp_path, server, capsys):
    body, md5, _, _ = make_archive(tmp_path)
    url = server.serve("/cifar-10-python.tar.gz", body)
    ensure_cifar(str(tmp_path / "data"), url=url, md5=md5)
    err = capsys.readouterr().err              # not a terminal
    assert "\r" not in err
    assert err.splitlines() == [f"Downloading CIFAR-10 from {url}",
                                f"  {len(body) / 1e6:.1f} of {len(body) / 1e6:.1f} MB"]
