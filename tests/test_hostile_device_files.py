"""Special files are written in place, never replaced: every ``--out``/``--html`` path that names a FIFO or a
character device keeps it a FIFO or device (as root, a rename over ``/dev/null`` replaced the system's). The
devices here are made under tmp_path (``os.mkfifo``; ``os.mknod`` where permitted); no real device is touched."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from cli_runner import run_cli
from hostile import assert_one_line_error
from llmroof.results.io import check_writable, is_special, write_json_atomic, write_text_atomic

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


class FifoReader:
    """Reads everything written to a FIFO, in a thread (a writer blocks until a reader opens it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as handle:
            self.data = handle.read()

    def text(self) -> str:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "nothing opened the FIFO for writing"
        return self.data.decode()


def _char_device(path: Path) -> Path:
    """A null character device (1, 3) under tmp_path, where the system lets us make one."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a character device here: {exc}")
    return path


def test_fifo_is_written_in_place(tmp_path) -> None:
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    write_json_atomic(fifo, {"a": 1})
    assert json.loads(reader.text()) == {"a": 1}
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"], "no temporary file left beside it"


def test_char_device_is_written_in_place(tmp_path) -> None:
    device = _char_device(tmp_path / "null")
    write_text_atomic(device, "discarded\n")
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert is_special(device)


def test_regular_files_are_replaced_atomically_and_symlinks_never_followed(tmp_path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_text_atomic(link, "new")  # the output policy: the link is replaced, what it pointed to is kept
    assert not link.is_symlink() and link.read_text() == "new" and target.read_text() == "old"
    assert not is_special(target) and not is_special(tmp_path / "absent")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_check_writable_accepts_special_files(tmp_path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    check_writable(fifo)  # a FIFO is writable in place: no probe file, no error
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def _targets(tmp_path: Path, kind: str, name: str = "target") -> Path:
    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    else:
        _char_device(path)
    return path


def _profile_record(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "results.json"
    path.parent.mkdir()
    # a complete profile (0.1.0's, which every version reads): the report refuses an incomplete one
    path.write_bytes((Path(__file__).parent / "data" / "v0.1.0" / "profile.json").read_bytes())
    return path


@pytest.mark.parametrize("kind", ["fifo", "char device"])
@pytest.mark.parametrize("command", ["report --out", "analyze --html", "compare --out", "compare --out table",
                                     "sample --out", "sample --out csv"])
def test_every_out_path_keeps_a_special_file(capsys, tmp_path, monkeypatch, kind, command) -> None:
    from fakes import FakeNvml
    from llmroof.measure import nvml as nv

    monkeypatch.setattr(nv, "load_pynvml", lambda: FakeNvml(gpm=True, dram_util=75.0))
    target = _targets(tmp_path, kind, "target.csv" if command.endswith("csv") else "target")
    reader = FifoReader(target) if kind == "fifo" else None
    record = _profile_record(tmp_path)
    args = {
        "report --out": ["report", str(record), "--out", str(target)],
        "analyze --html": ["analyze", "--html", str(target)],
        "compare --out": ["compare", str(record), str(record), "--out", str(target), "-f", "markdown"],
        "compare --out table": ["compare", str(record), str(record), "--out", str(target)],
        "sample --out": ["sample", "--seconds", "0.1", "--out", str(target)],
        "sample --out csv": ["sample", "--seconds", "0.1", "--out", str(target)],
    }[command]
    code, _, err = run_cli(capsys, *args)
    assert code in (0, 3), err  # compare of a run with itself may be inconclusive, never an error
    mode = os.stat(target).st_mode
    assert (stat.S_ISFIFO(mode) if kind == "fifo" else stat.S_ISCHR(mode)), "the special file was replaced"
    if reader is not None:
        assert reader.text(), "the output went through the FIFO"
    leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(".")]
    assert not leftovers


@pytest.mark.parametrize("kind", ["fifo", "char device"])
def test_profile_out_refuses_a_special_file(capsys, tmp_path, monkeypatch, kind) -> None:
    import llmroof.measure.profile as measure_profile

    monkeypatch.setattr(measure_profile, "profile", lambda *a, **k: pytest.fail("measured"))
    target = _targets(tmp_path, kind)
    config = tmp_path / "config.json"
    from hostile import TINY_CONFIG

    config.write_text(json.dumps(TINY_CONFIG))
    code, _, err = run_cli(capsys, "profile", "-m", str(config), "--device", "cpu", "--out", str(target))
    assert_one_line_error(code, err, "not a folder")
    mode = os.stat(target).st_mode
    assert stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def test_a_link_through_proc_is_written_in_place(tmp_path) -> None:
    """As /dev/stdout -> /proc/self/fd/1 -> a log the shell opened for appending (`>> log`): a rename would cut
    the log loose from the shell's file descriptor; llmroof appends to it instead. Only a path named under /dev
    or /proc is followed so: a link elsewhere is replaced, whatever it points to (the policy)."""
    log = tmp_path / "log.txt"
    log.write_text("earlier lines\n")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        named = Path(f"/proc/self/fd/{fd}")
        if not named.exists():
            pytest.skip("no /proc/self/fd here")
        inode = os.stat(log).st_ino
        assert is_special(named)
        write_text_atomic(named, "report\n")
        assert os.stat(log).st_ino == inode and log.read_text() == "earlier lines\nreport\n"
        link = tmp_path / "stdout"
        link.symlink_to(named)
        assert not is_special(link)
        write_text_atomic(link, "replaced\n")
        assert not link.is_symlink() and log.read_text() == "earlier lines\nreport\n"
    finally:
        os.close(fd)
