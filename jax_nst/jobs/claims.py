"""Claims: runs sharing an output folder (on one machine or hosts sharing a filesystem) compute each output once.

A claim on an output is an exclusive ``flock`` on ``OUT_DIR/.claims/<SHA-1 of the output>.lock``,
held while the output is computed, written and recorded. The kernel drops the locks of a process
that dies, so the claims of a killed run are free at once (on NFS, Linux maps ``flock`` onto the
server's byte-range locks). The holder deletes the lock file as it lets go; a run that locked a file
just deleted tries the path again, and a run that gets a claim checks the manifests first, so an
output finished meanwhile is not computed again.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import pathlib

FOLDER = ".claims"


class Claims:
    """This run's claims in one output folder."""

    def __init__(self, out_dir: pathlib.Path) -> None:
        self.folder = pathlib.Path(out_dir) / FOLDER
        self.held: dict[str, tuple[int, pathlib.Path]] = {}

    def path(self, output: str) -> pathlib.Path:
        return self.folder / (hashlib.sha1(output.encode("utf-8", "surrogateescape")).hexdigest() + ".lock")

    def take(self, output: str, wait: bool = False) -> bool:
        """Claim ``output``; False if another live run holds it (``wait``: block until it lets go)."""
        if output in self.held:
            return True
        path = self.path(output)
        while True:
            fd = self._open(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    return False
                raise
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, path):
                break
            os.close(fd)  # the holder deleted the file as it let go: lock the one at the path now
        self._note_holder(fd)
        self.held[output] = (fd, path)
        return True

    def _open(self, path: pathlib.Path) -> int:
        """Open (create) a lock file; the folder may be removed by another run in between, then made again."""
        while True:
            self.folder.mkdir(exist_ok=True)
            try:
                return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except FileNotFoundError:
                continue

    @staticmethod
    def _note_holder(fd: int) -> None:
        """Write who holds the claim into its lock file, for people looking (best effort: a full disk is fine)."""
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.uname().nodename} {os.getpid()}\n".encode(), 0)
        except OSError:
            pass

    def release(self, output: str) -> None:
        """Let go of ``output``: delete its lock file (while still holding it), then unlock."""
        fd, path = self.held.pop(output, (None, None))
        if fd is None:
            return
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)

    def close(self) -> None:
        """Let go of every claim still held and remove the folder if it is empty."""
        for output in list(self.held):
            self.release(output)
        try:
            self.folder.rmdir()
        except OSError:
            pass


def _same_file(fd: int, path: pathlib.Path) -> bool:
    """Whether the open ``fd`` is still the file at ``path`` (not one deleted in the meantime)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
