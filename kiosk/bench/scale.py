"""1:N search at gallery sizes from a thousand to a million templates, with real people inside.

A gallery of N templates holds the real LFW people with two or more photos (first photo enrolled,
second photo the probe) among synthetic templates drawn from the real embedding distribution: a
Gaussian with the mean and covariance of 7,700 real unit-length LFW embeddings, normalised, then
protected like any enrollment. The check that the model is not kind to the matcher: each real
probe's nearest impostor is compared between real and synthetic galleries of the same size.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiosk.config import RecognitionConfig
from kiosk.evaluation.lfw import EncodedSet
from kiosk.protection import TemplateProtector
from kiosk.providers import ProviderChoice
from kiosk.recognition.matching import GalleryIndex, nearest_person, pairwise_distances
from kiosk.runtime.decisions import threshold_for_gallery
from kiosk.store.seal import TemplateSeal


@dataclass(frozen=True)
class RealFaces:
    """Unit-length embeddings of real people: enrolled photo and probe photo, row by row."""

    enrolled: np.ndarray
    probes: np.ndarray
    all_unit: np.ndarray  # every real embedding, for the distribution

    @classmethod
    def from_lfw(cls, encoded: EncodedSet) -> "RealFaces":
        usable = encoded.ok
        names = np.array(encoded.names)[usable]
        unit = encoded.probes[usable] / np.linalg.norm(encoded.probes[usable], axis=1, keepdims=True)
        people = np.array([name.split("/")[0] for name in names])
        enrolled, probes = [], []
        for person in np.unique(people):
            rows = np.flatnonzero(people == person)
            if len(rows) >= 2:
                enrolled.append(rows[0])
                probes.append(rows[1])
        return cls(unit[enrolled], unit[probes], unit)


@dataclass(frozen=True)
class SearchResult:
    method: str
    size: int
    median_ms: float
    p95_ms: float
    recall: float | None  # same nearest template as exact search (None: it is exact)
    build_s: float


def synthetic_embeddings(real_unit: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    mean, covariance = real_unit.mean(axis=0), np.cov(real_unit.T)
    samples = rng.multivariate_normal(mean, covariance, size=count, method="eigh").astype(np.float32)
    return samples / np.linalg.norm(samples, axis=1, keepdims=True)


def protected_gallery(real: RealFaces, size: int, protector: TemplateProtector, rng: np.random.Generator,
                      chunk: int = 65_536) -> np.ndarray:
    """`size` protected templates: the real enrolled people first, synthetic people after them."""
    enrolled = real.enrolled[:size]
    synthetic = synthetic_embeddings(real.all_unit, size - len(enrolled), rng)
    parts = [protector.protect(enrolled)] + [protector.protect(synthetic[i:i + chunk])
                                             for i in range(0, len(synthetic), chunk)]
    return np.ascontiguousarray(np.concatenate(parts))


def _timed(search: Callable[[np.ndarray], int], probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, times = [], []
    for probe in probes:
        started = time.perf_counter()
        rows.append(search(probe[None]))
        times.append((time.perf_counter() - started) * 1000)
    return np.array(rows), np.array(times)


def search_benchmark(gallery: np.ndarray, probes: np.ndarray, hnsw: bool) -> tuple[list[SearchResult], np.ndarray]:
    """Exact NumPy, exact FAISS (the kiosk's GalleryIndex), and optionally HNSW with its recall."""
    import faiss

    size = len(gallery)
    row_ids = np.arange(size).astype(str).astype(object)
    results = []
    started = time.perf_counter()
    index = GalleryIndex(gallery, row_ids)
    build = time.perf_counter() - started
    exact, times = _timed(lambda p: int(str(index.nearest(p)[0])), probes)
    results.append(SearchResult("exact, FAISS flat L2 (kiosk)", size, *_summary(times), None, build))
    numpy_rows, times = _timed(lambda p: int(str(nearest_person(p, gallery, row_ids)[0])), probes)
    results.append(SearchResult("exact, NumPy BLAS", size, *_summary(times), float(np.mean(numpy_rows == exact)), 0.0))
    if hnsw:
        started = time.perf_counter()
        graph = faiss.IndexHNSWFlat(gallery.shape[1], 32)
        graph.hnsw.efConstruction = 64
        graph.add(gallery)
        build = time.perf_counter() - started
        graph.hnsw.efSearch = 128
        approx, times = _timed(lambda p: int(graph.search(p, 1)[1][0, 0]), probes)
        results.append(SearchResult("HNSW (FAISS, M 32, ef 128)", size, *_summary(times),
                                    float(np.mean(approx == exact)), build))
    return results, exact


def _unseal_seconds(gallery: np.ndarray) -> float:
    """What a kiosk spends once, as it loads a gallery stored sealed (kiosk/store/seal.py)."""
    seal = TemplateSeal(secrets.token_bytes(32), 1)
    salts = TemplateSeal.new_salts(len(gallery))
    sealed = seal.seal(gallery, salts)
    started = time.perf_counter()
    seal.unseal(sealed, salts)
    return time.perf_counter() - started


def _summary(times: np.ndarray) -> tuple[float, float]:
    return float(np.median(times)), float(np.percentile(times, 95))


def nearest_impostor_distances(real: RealFaces, protector: TemplateProtector,
                               rng: np.random.Generator) -> tuple[float, float]:
    """Median distance from each real probe to its nearest other person: real gallery vs synthetic one."""
    probes = protector.probe_space(real.probes)
    real_d = pairwise_distances(probes, protector.protect(real.enrolled))
    np.fill_diagonal(real_d, np.inf)  # the probe's own enrolled photo is not an impostor
    synthetic_d = pairwise_distances(probes, protector.protect(synthetic_embeddings(real.all_unit, len(real.enrolled), rng)))
    return float(np.median(real_d.min(axis=1))), float(np.median(synthetic_d.min(axis=1)))


def identification_rate(exact_rows: np.ndarray, distances_ok: np.ndarray) -> float:
    """Share of real probes whose nearest template is their own enrolled one (row i) within the threshold."""
    return float(np.mean((exact_rows == np.arange(len(exact_rows))) & distances_ok))


def _real_faces(lfw_root) -> RealFaces:
    from kiosk.evaluation.lfw import LfwPairs, encode_lfw

    return RealFaces.from_lfw(encode_lfw(LfwPairs.load(lfw_root)))


def _throwaway_protector(provider: ProviderChoice):
    from kiosk.manifest import load_embedder_manifest
    from kiosk.protection import protector_for
    from kiosk.store.keys import KioskSecrets

    return protector_for(KioskSecrets.generate(), load_embedder_manifest(),
                         provider="cpu" if provider == "auto" else provider)


def scale_report(lfw_root, sizes: list[int], provider: ProviderChoice, probes: int = 300,
                 hnsw_up_to: int = 100_000) -> tuple[dict, list[str]]:
    """Search speed, recall and identification rate of real probes at each gallery size."""
    real = _real_faces(lfw_root)
    protector = _throwaway_protector(provider)
    rng = np.random.default_rng(2026)
    real_nearest, synthetic_nearest = nearest_impostor_distances(real, protector, rng)
    threshold = protector.threshold
    rules = RecognitionConfig()  # the kiosk's defaults pick its threshold for each gallery size
    sizes_data: dict[int, dict] = {}
    data = {"real_people": len(real.enrolled),
            "nearest_impostor_median": {"real": real_nearest, "synthetic": synthetic_nearest},
            "sizes": sizes_data}
    lines = [f"1:N search: {len(real.enrolled)} real LFW people (one photo enrolled, another as probe) among "
             f"synthetic templates from the real embedding distribution; {probes} probes per size",
             f"  check of the synthetic people: median distance from a real probe to its nearest other person, "
             f"real {real_nearest:.3f} vs synthetic {synthetic_nearest:.3f} (lower = harder for the matcher)",
             f"  {'templates':>10}  {'method':<32} {'median ms':>10} {'p95 ms':>8} {'recall':>7} {'build s':>8}"]
    for size in sizes:
        gallery = protected_gallery(real, size, protector, rng)
        count = min(probes, len(real.probes), size)
        probe_rows = protector.probe_space(real.probes[:count])
        results, exact = search_benchmark(gallery, probe_rows, hnsw=size <= hnsw_up_to)
        nearest_d = np.sqrt(np.maximum(((gallery[exact] - probe_rows) ** 2).sum(axis=1), 0))
        rank1 = {"1e-03": identification_rate(exact, nearest_d < threshold.at_fmr(1e-3)),
                 "kiosk": identification_rate(exact, nearest_d < threshold_for_gallery(
                     threshold, rules.false_accepts_per_day, rules.attempts_per_day, size))}
        unseal_s = _unseal_seconds(gallery)
        sizes_data[size] = {"results": [r.__dict__ for r in results], "identified": rank1, "unseal_at_load_s": unseal_s}
        for r in results:
            recall = "exact" if r.recall is None else f"{r.recall:.3f}"
            lines.append(f"  {size:>10,}  {r.method:<32} {r.median_ms:>10.3f} {r.p95_ms:>8.3f} {recall:>7} "
                         f"{r.build_s:>8.1f}")
        numpy_ms = next(r.median_ms for r in results if "NumPy" in r.method)
        lines.append(f"  {'':>10}  FAISS flat is {numpy_ms / results[0].median_ms:.1f}x faster than NumPy; real probes "
                     f"identified: {100 * rank1['1e-03']:.1f}% at FMR 1e-3, {100 * rank1['kiosk']:.1f}% at the kiosk's "
                     f"threshold for this size; unsealing the stored gallery at load {unseal_s:.2f} s (the search is "
                     f"on the unsealed gallery: no cost per match)")
        del gallery
    return data, lines


def memory_report(lfw_root, templates: int) -> tuple[dict, list[str]]:
    """Resident size of a running kiosk with an empty store and with `templates` in it."""
    import tempfile
    from pathlib import Path

    from kiosk.bench.frames import door_frame
    from kiosk.bench.memory import measure_kiosk_memory, write_store
    from kiosk.imageio import read_image
    from kiosk.manifest import load_embedder_manifest

    real = _real_faces(lfw_root)
    protector = _throwaway_protector("cpu")
    frame = door_frame(read_image(sorted((Path(lfw_root) / "images" / "Colin_Powell").glob("*.jpg"))[0]))
    model_id = load_embedder_manifest().id
    rows = {}
    for count in (0, templates):
        with tempfile.TemporaryDirectory() as scratch:
            gallery = (protected_gallery(real, count, protector, np.random.default_rng(1)) if count
                       else np.empty((0, 128), np.float32))
            config, seconds = write_store(Path(scratch), gallery, model_id)
            store_mb = round((Path(scratch) / "gallery.db").stat().st_size / 2**20, 1)
            rows[count] = measure_kiosk_memory(config, frame) | {"store_write_s": round(seconds, 1), "store_mb": store_mb}
    empty, full = rows[0], rows[templates]
    lines = ["memory of a running kiosk (models, liveness, gallery index; 60 frames processed):",
             f"  empty store: resident {empty['rss_mb']:.0f} MB (peak {empty['peak_mb']:.0f} MB), started in "
             f"{empty['start_s']} s",
             f"  {templates:,} templates: resident {full['rss_mb']:.0f} MB (peak {full['peak_mb']:.0f} MB), started in "
             f"{full['start_s']} s; +{full['rss_mb'] - empty['rss_mb']:.0f} MB for the gallery "
             f"({templates * 128 * 4 / 2**20:.0f} MB of float32 templates); encrypted store {full['store_mb']} MB, "
             f"written in {full['store_write_s']} s"]
    return {"empty": empty, "full": full}, lines
