"""`deploy/local/influxdb.sh` trusts its pid file only when the process is its own influxd: after a
reboot or a crash the pid may be another program's."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

from tests.servers import ROOT, server_folder

SCRIPT = ROOT / "deploy/local/influxdb.sh"


def test_a_stale_pid_file_naming_another_program_is_not_taken_for_influxdb() -> None:
    folder = server_folder("qahub-influx-pid-")
    data = folder / "influxdb"
    subprocess.run([SCRIPT, "install"], check=True)
    url = subprocess.run([SCRIPT, "start", data], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([SCRIPT, "stop", data], check=True)
    with subprocess.Popen(["sleep", "300"]) as other:
        try:
            (data.resolve() / "influxd.pid").write_text(f"{other.pid}\n")

            status = subprocess.run([SCRIPT, "status", data], check=False)
            subprocess.run([SCRIPT, "stop", data], check=True)
            alive_after_stop = other.poll() is None
            restarted = subprocess.run([SCRIPT, "start", data], check=True, capture_output=True, text=True)
            with urllib.request.urlopen(f"{url}/ping", timeout=5) as pong:  # noqa: S310  (our own server)
                answered = pong.status
        finally:
            other.kill()
            subprocess.run([SCRIPT, "stop", data], check=False)
            shutil.rmtree(data.resolve(), ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)

    assert status.returncode != 0
    assert alive_after_stop
    assert restarted.stdout.strip() == url
    assert answered == 204
