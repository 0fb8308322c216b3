"""The real `senteid` driven from a script: model directory, config file, process, event socket.

Shared by bench/adapt (adaptation benchmark) and scripts/check-allocations.py (allocation counter):

    daemon = SenteidProcess(senteid, work, "run", shared)
    daemon.write_config(daemon.base_config(frames, sizes=[416, 256], threads=2) + ["[budgets]", "latency_ms = 30"])
    daemon.start()                       # waits for the socket; events are read on a thread
    t = daemon.wait_for(lambda e: e.get("type") == "stats", 60)
    events = daemon.stop()               # [(monotonic time, event), ...]
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SenteidProcess:
    def __init__(self, senteid, work, name, shared, env=None, on_event=None):
        self.senteid, self.work, self.name = senteid, work, name
        self.socket_path = os.path.join(work, name + ".sock")
        self.config_path = os.path.join(work, name + ".toml")
        self.log_path = os.path.join(work, name + ".log")
        self.manifest = install_model(work, shared)
        self.env = dict(env if env is not None else os.environ)
        # Run as a plain process, not as the service the caller may itself run under.
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("JOURNAL_STREAM", None)
        self.on_event = on_event
        self.events = []
        self.lock = threading.Lock()
        self.process = None

    def base_config(self, frames, sizes, threads, camera="bench", fps=25):
        """Everything but [budgets]: state directory, model, one looping replay camera, socket on, journal off."""
        return [
            "[daemon]", f'state_dir = "{self.work}/state"', "stats_interval_s = 1",
            "[model]", f'manifest = "{self.manifest}"', "input_sizes = [" + ", ".join(str(s) for s in sizes) + "]",
            f"threads = {threads}",
            "[[cameras]]", f'name = "{camera}"', f'replay = "{frames}"', f"fps = {fps}", "replay_loop = true",
            "[outputs.socket]", f'path = "{self.socket_path}"', "[outputs.journal]", "enabled = false",
        ]

    def write_config(self, lines):
        """Atomically, so a reload (SIGHUP) never reads half a file."""
        with open(self.config_path + ".new", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(self.config_path + ".new", self.config_path)

    def start(self, timeout=120):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([self.senteid, "--config", self.config_path], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"senteid exited with {self.process.returncode}; see {self.log_path}")
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(self.socket_path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise SystemExit(f"the daemon's socket {self.socket_path} never appeared; see {self.log_path}")
                time.sleep(0.1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            now = time.monotonic()
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                with self.lock:
                    self.events.append((now, event))
                    if self.on_event:
                        self.on_event(event)

    def check_running(self):
        if self.process.poll() is not None:
            raise SystemExit(f"senteid exited early ({self.process.returncode}); see {self.log_path}")

    def wait_for(self, predicate, timeout):
        """Monotonic time of the first event matching `predicate`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for t, e in self.events:
                    if predicate(e):
                        return t
            self.check_running()
            time.sleep(0.05)
        raise SystemExit(f"timed out waiting for an event from senteid ({self.name}); see {self.log_path}")

    def rss_kb(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    def stop(self):
        """SIGTERM (SIGKILL after 10 s); returns every event read, with its monotonic arrival time."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.sock.close()
        self.log.close()
        with self.lock:
            return list(self.events)


def install_model(work, shared):
    """`work/models/yolox_nano.json` from Models/ and a link to the shared ONNX beside it; returns the manifest."""
    models = os.path.join(work, "models")
    manifest = os.path.join(models, "yolox_nano.json")
    if not os.path.exists(manifest):
        os.makedirs(models, exist_ok=True)
        with open(os.path.join(ROOT, "Models", "yolox_nano.json")) as src, open(manifest, "w") as dst:
            dst.write(src.read())
        os.symlink(os.path.join(os.path.abspath(shared), "models", "yolox_nano.onnx"),
                   os.path.join(models, "yolox_nano.onnx"))
    return manifest
