"""Docker labs as an ordinary user: labs 06-08 say before any step that they need root and an
engine (exit 2, with what to do), and a Docker lab that fails leaves none of its containers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dockerkit
import pytest
import wordskit
from conftest import LABS, ROOT, nslab_cli

from nslab.kernel import isolate
from nslab.lang.labfile import LabFileError, parse_file, parse_text

docker_image = dockerkit.docker_image
DOCKER_LABS = sorted(LABS.glob("0[678]-*.lab"))
RAW = re.compile(r"Error\(|Errno|\(13,|Traceback|PermissionError")


@pytest.fixture(scope="module", autouse=True)
def _remove_site() -> Iterator[None]:
    yield
    wordskit.remove_site()


@pytest.fixture
def home() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="nslab-words-h"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def gone(name: str) -> bool:
    """`docker ps -a` knows no container of that exact name."""
    r = dockerkit.docker("ps", "-a", "--filter", f"name=^/{name}$", "--format", "{{.Names}}")
    return r.stdout.strip() == ""


def test_the_docker_labs_declare_what_they_need():
    assert len(DOCKER_LABS) == 3
    for path in DOCKER_LABS:
        lab = parse_file(path)
        assert {"docker", "image"} <= set(lab.needs.what), path
        text = path.read_text()
        # its containers are started by `container run` (the lab removes them by label and ID),
        # never by a `docker run` a failed run would leave behind
        started = set(re.findall(r"^container run (nslab-[\w-]+)", text, re.M))
        assert started and "docker run" not in text.replace("`docker run", ""), path
        assert not lab.needs.containers, path
    assert "ovs" in parse_file(LABS / "08-pipework.lab").needs.what


def test_a_mistyped_need_is_a_parse_error_with_a_caret():
    with pytest.raises(LabFileError) as e:
        parse_text("# title\n# needs: docker, dock\nns add a\n", "t.lab")
    (err,) = e.value.errors
    assert err.message == "# needs: expected one of docker, image, ovs, got 'dock'"
    assert (err.loc.line, err.loc.col) == (2, 18)  # under `dock`, not inside `docker`
    # below the first command it is narration like any comment
    assert parse_text("ns add a\n# needs: whatever\nns add b\n", "t.lab").needs.what == ()


@pytest.mark.parametrize("path", DOCKER_LABS, ids=lambda p: p.stem)
def test_an_ordinary_user_is_refused_before_any_step(path: Path, home: Path):
    r = wordskit.nslab_as_nobody(home, "run", path.stem)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert f"error: {path.stem}: it needs root: it enters Docker containers' network namespaces, which takes " \
           "CAP_SYS_ADMIN and CAP_NET_ADMIN in the machine's own user namespace (you are uid 65534)" in out, out
    assert f"run it as root: sudo nslab run {path.stem}" in out, out
    assert out.rstrip().endswith("nothing ran"), out
    assert "steps" not in out and "added" not in out and "names the network namespace" not in out, out
    assert not RAW.search(out), out


def test_without_an_engine_a_docker_lab_is_refused(tmp_path: Path):
    r = nslab_cli("--no-color", "run", "06-docker-netns", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error: 06-docker-netns: it needs a container engine it may use (Docker, or Podman's Docker-compatible " \
           f"API): no Docker engine answers: unix://{tmp_path}/none.sock: no such socket; nor does Podman (" in r.stdout, r.stdout
    assert "; start dockerd or `podman system service`" in r.stdout, r.stdout
    assert "nothing ran" in r.stdout and "steps" not in r.stdout


def test_source_refuses_a_docker_lab_the_same_way(lab, tmp_path: Path):
    lab.docker_host = f"unix://{tmp_path}/none.sock"
    out = lab.run(f"source {LABS / '07-container-on-lan.lab'}")
    assert not out.ok and "it needs a container engine it may use" in (out.error or "") and "nothing of it ran" in out.error
    assert lab.nss.names() == []  # its first line (ns add lan) never ran


def failing_lab(tmp: Path, name: str, image: str, then: str) -> Path:
    path = tmp / "fails.lab"
    path.write_text(f"# a Docker lab that fails once its container runs\n# needs: docker, image\n# containers: {name}\n"
                    f"exec docker run -d --name {name} --network none {image} sleep 600\n"
                    f"ns link {name} c\n{then}\n")
    return path


def test_a_container_run_lab_that_fails_halfway_leaves_no_container(docker_image: str, tmp_path: Path):
    names = [f"nslab-w{os.getpid()}-half{k}" for k in range(2)]
    path = tmp_path / "half.lab"
    path.write_text("# fails after its containers run\n# needs: docker, image\n"
                    + "".join(f"container run {n}\n" for n in names) + f"{names[0]} expect link eth9\n")
    try:
        r = nslab_cli("--no-color", "run", str(path))
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"container {names[1]} runs" in r.stdout, r.stdout  # both did start
        assert all(gone(n) for n in names)
    finally:
        dockerkit.docker("rm", "-f", *names, check=False)


def test_a_failed_docker_lab_leaves_no_container(docker_image: str, tmp_path: Path):
    name = f"nslab-w{os.getpid()}-fail"
    try:
        r = nslab_cli("--no-color", "run", str(failing_lab(tmp_path, name, docker_image, "c expect link eth9")))
        assert r.returncode == 1, r.stdout + r.stderr
        assert "names the network namespace of container" in r.stdout  # it did start
        assert f"warning: removed container {name}: the lab failed" in r.stdout, r.stdout
        assert gone(name)
    finally:
        dockerkit.docker("rm", "-f", name, check=False)


def test_an_interrupted_docker_lab_leaves_no_container(docker_image: str, tmp_path: Path):
    name = f"nslab-w{os.getpid()}-int"
    env = dict(os.environ)
    env.pop(isolate.MARK, None)
    proc = subprocess.Popen([sys.executable, "-m", "nslab", "--no-color", "run",
                             str(failing_lab(tmp_path, name, docker_image, "exec sleep 30"))],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        for _ in range(300):
            if dockerkit.docker("ps", "--filter", f"name=^/{name}$", "-q").stdout.strip():
                break
            time.sleep(0.1)
        time.sleep(1.0)  # into `exec sleep 30`
        proc.send_signal(signal.SIGINT)  # Ctrl-C, to our own child by its PID
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0, out
        assert f"removed container {name}" in out, out
        assert gone(name)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        dockerkit.docker("rm", "-f", name, check=False)


def test_a_docker_lab_that_holds_keeps_to_its_own_lines(docker_image: str, tmp_path: Path):
    """Nothing is removed when the run holds: the lab's own last lines decide (its `Clean up`)."""
    name = f"nslab-w{os.getpid()}-ok"
    try:
        r = nslab_cli("--no-color", "run", str(failing_lab(tmp_path, name, docker_image, "c expect link lo")))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "removed container" not in r.stdout and not gone(name)
    finally:
        dockerkit.docker("rm", "-f", name, check=False)
