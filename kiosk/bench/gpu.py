"""Embed + protect throughput on ONNX Runtime's CUDA provider, with IO binding, at batch 1, 32, 256.

The float32 descriptor runs on the GPU (the int8 QDQ model is a CPU optimisation). A profiled run
counts the graph nodes each provider executed: the proof that CUDA, not a silent CPU fallback, ran.
"""

import json
import time
from pathlib import Path

import numpy as np

from kiosk.errors import FacegateError
from kiosk.manifest import load_embedder_manifest
from kiosk.providers import ProviderChoice
from kiosk.recognition.embedder import preprocess_chips

BATCHES = (1, 32, 256)


def _cuda_session(path: Path, profile: bool = False):
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels, where they came from pip
    options = ort.SessionOptions()
    options.enable_profiling = profile
    session = ort.InferenceSession(str(path), sess_options=options,
                                   providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if session.get_providers()[0] != "CUDAExecutionProvider":
        raise FacegateError(f"CUDA did not load for {path.name} (providers: {session.get_providers()}); "
                            f"run scripts/gpu_check.sh, which installs onnxruntime-gpu's CUDA and cuDNN wheels")
    return session


def nodes_by_provider(session, feeds: dict) -> dict[str, int]:
    """Run once with profiling on; how many node executions each provider did."""
    session.run(None, feeds)
    profile = Path(session.end_profiling())
    counts: dict[str, int] = {}
    for event in json.loads(profile.read_text()):
        provider = event.get("args", {}).get("provider")
        if event.get("cat") == "Node" and provider:
            counts[provider] = counts.get(provider, 0) + 1
    profile.unlink()
    return counts


def gpu_report(provider: ProviderChoice, repeats: int = 20) -> tuple[dict, list[str]]:
    import onnxruntime as ort

    from kiosk.protection import protector_for
    from kiosk.store.keys import KioskSecrets

    manifest = load_embedder_manifest()
    model = manifest.converted.path
    embed = _cuda_session(model)
    chips = np.random.default_rng(0).integers(0, 255, (max(BATCHES), manifest.input.size, manifest.input.size, 3), np.uint8)
    proof = nodes_by_provider(_cuda_session(model, profile=True),
                              {manifest.input.name: preprocess_chips(chips[:2], manifest.input)})
    protector = protector_for(KioskSecrets.generate(), manifest, provider="cuda")
    rows = {}
    for batch in BATCHES:
        mirrored = np.concatenate([chips[:batch], chips[:batch, :, ::-1]])  # the manifest's mirror averaging
        binding = embed.io_binding()
        times = []
        for _ in range(repeats + 2):
            started = time.perf_counter()
            tensor = ort.OrtValue.ortvalue_from_numpy(preprocess_chips(mirrored, manifest.input), "cuda", 0)
            binding.bind_ortvalue_input(manifest.input.name, tensor)
            binding.bind_output(manifest.output_name, "cuda")
            embed.run_with_iobinding(binding)
            descriptors = binding.copy_outputs_to_cpu()[0]
            protector.protect((descriptors[:batch] + descriptors[batch:]) / 2)
            times.append(time.perf_counter() - started)
        median = float(np.median(times[2:]))
        rows[batch] = {"ms_per_batch": round(median * 1000, 3), "faces_per_second": round(batch / median, 1)}
    data = {"device": ort.get_device(), "embed_providers": embed.get_providers(), "nodes_by_provider": proof,
            "protector_provider": protector.provider, "batches": rows}
    lines = [f"GPU: embed (float32 descriptor, with mirror) + protect on {embed.get_providers()[0]}; protector on "
             f"{protector.provider}",
             f"  node executions by provider in a profiled run: {proof}",
             f"  {'batch':>6} {'ms per batch':>13} {'faces/s':>10}"]
    lines += [f"  {batch:>6} {row['ms_per_batch']:>13.2f} {row['faces_per_second']:>10.0f}" for batch, row in rows.items()]
    return data, lines
