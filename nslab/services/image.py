"""`nslab image`: a tiny container image built with no registry.

A rootfs tar holding Debian's static busybox (package busybox-static) and a
symlink per applet, so `sh`, `ip`, `ping` and `sleep` exist, fed to
`docker import`.  The labs and the tests run their containers from it.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time

from ..base.errors import CommandError

IMAGE = "nslab/busybox:latest"
BUSYBOX = "/bin/busybox"
NEEDED = ("sh", "ip", "ping", "sleep")


def applets(busybox: str = BUSYBOX) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted({a for a in out.split() if a and "/" not in a and a != "busybox"})


def rootfs_tar(busybox: str = BUSYBOX) -> bytes:
    """An uncompressed tar of the image's root: /bin/busybox, applet links, a few empty dirs."""
    if not os.path.exists(busybox):
        raise CommandError(f"no {busybox}: install Debian's busybox-static (apt-get install busybox-static)")
    names = applets(busybox)
    missing = [a for a in NEEDED if a not in names]
    if missing:
        raise CommandError(f"{busybox} lacks {', '.join(missing)}: use Debian's busybox-static")
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755, now
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for name in names:
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, "busybox", 0o777, now
            tar.addfile(info)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def exists(image: str = IMAGE) -> bool:
    from .engine import connect, engine_errors, engine_words

    which, sdk = connect()  # a clear error when the docker package or the engine is missing
    import docker.errors
    try:
        sdk.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False
    except engine_errors() as e:
        raise CommandError(f"{which.kind} engine: cannot look up image {image}: {engine_words(e)}") from None


def build(image: str = IMAGE, busybox: str = BUSYBOX) -> str:
    """`docker import` the rootfs as `image` (the API's image import, which Podman's compatible API
    serves too; Podman names it docker.io/IMAGE, and finds it by IMAGE); returns the image id."""
    from .engine import connect, engine_errors, engine_words

    repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    data = rootfs_tar(busybox)
    which, sdk = connect()
    try:
        out = sdk.api.import_image_from_data(data, repository=repo, tag=tag,
                                             changes=['CMD ["/bin/sh"]', "ENV PATH=/bin:/sbin"])
    except engine_errors() as e:
        raise CommandError(f"image import ({which}) failed: {engine_words(e)}") from None
    try:
        return str(sdk.images.get(image).id)
    except engine_errors():
        return str(out).strip()  # the import's own answer names the image
