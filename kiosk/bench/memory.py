"""Resident memory of a running kiosk, with and without a large gallery, measured in a fresh process.

The gallery is written into a real encrypted store (synthetic protected templates, one per person);
a child process starts the kiosk from it (models, liveness, gallery index), processes frames, and
reports its resident size, so nothing the benchmark itself holds is counted.
"""

import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import yaml

from kiosk.paths import PROJECT_ROOT


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def write_store(folder: Path, templates: np.ndarray, model_id: str) -> tuple[Path, float]:
    """A kiosk config and an encrypted store holding these templates, one person each; seconds taken."""
    from kiosk.config import load_config
    from kiosk.manifest import load_embedder_manifest
    from kiosk.protection import protector_for
    from kiosk.store.access import open_store
    from kiosk.store.keys import KeySourceConfig, KioskSecrets, save_secrets
    from kiosk.store.records import Consent, Person, TemplateSet

    config_path = folder / "kiosk.yaml"
    config_path.write_text(yaml.safe_dump({"store": {"path": str(folder / "gallery.db"),
                                                      "keys": {"file": str(folder / "keys.json")}}}))
    config = load_config(config_path)
    save_secrets(KeySourceConfig(file=folder / "keys.json"), KioskSecrets.generate())
    started = time.perf_counter()
    store, secrets = open_store(config.store.resolved_path, config.store.keys, create=True)
    protector = protector_for(secrets, load_embedder_manifest(config.models.embedder), provider="cpu")
    consent = Consent("benchmark", date.today(), "memory benchmark")
    with store, store.transaction():
        for row, template in enumerate(templates):
            person_id = f"p{row:07d}"
            store.upsert_person(Person(person_id, f"Person {row}"))
            store.replace_templates(person_id, TemplateSet(template[None], model_id, protector.protector_id,
                                                           protector.secret_version, [100.0]))
            store.add_consent(person_id, consent)
    return config_path, time.perf_counter() - started


def measure_kiosk_memory(config_path: Path, frame: np.ndarray) -> dict:
    """Run the probe in a child process; its JSON answer."""
    with tempfile.NamedTemporaryFile(suffix=".npy", delete=False) as handle:
        np.save(handle, frame)
    done = subprocess.run([sys.executable, "-m", "kiosk.bench.memory", str(config_path), handle.name],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    Path(handle.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _probe(config_path: Path, frame_path: Path) -> None:
    """The child: a kiosk as `main.py run` builds it, 60 frames through it, then its memory."""
    from kiosk.config import load_config
    from kiosk.runtime.session import KioskSession
    from kiosk.sources import Frame

    baseline = _status_mb("VmRSS")
    config = load_config(config_path)
    frame = np.load(frame_path)
    started = time.perf_counter()
    with KioskSession(config) as session:
        runner = session.runner
        ready = time.perf_counter() - started
        for index in range(60):
            runner.process(Frame(frame, index * 66, index, "benchmark"))
        print(json.dumps({"templates": len(runner.gallery.index), "rss_mb": round(_status_mb("VmRSS"), 1),
                          "peak_mb": round(_status_mb("VmHWM"), 1), "interpreter_mb": round(baseline, 1),
                          "start_s": round(ready, 2)}))


if __name__ == "__main__":
    _probe(Path(sys.argv[1]), Path(sys.argv[2]))
