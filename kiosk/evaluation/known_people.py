"""Attack A3: an attacker who knows some of the enrolled people (`eval privacy`).

The attacker holds a copy of the stored templates with their names (a leaked site database, a door's
read role, a backup) and public photos of k of the enrolled people (a staff page). From the k pairs
(public photo's clean embedding, stored template) they fit a map from stored templates back to the
descriptor's space, by orthogonal Procrustes (the keyed layer is orthogonal), by least-squares
regression (any linear map) or by a small neural network (a non-linear one), apply it to every
other stored template, and compare the result with the public photos of the others: rank-1 among
them, and a match at the clean FMR 1e-3 threshold.

On LFW: people with two photos or more, seeded; the enrolled template is made from the first photo,
the public photo is the second. TARGETS people are attacked, the known ones are drawn from the rest.
Across two sites: the same people enrolled at two sites under two secrets (first photo at one,
second at the other); the attacker aligns one store with the other on k people known at both and
links the others, rank-1 among the targets.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

KNOWN_COUNTS = (0, 16, 32, 64, 128, 256, 512, 1024)
TARGETS = 655


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal R minimising |source R - target| (rows are pairs)."""
    u, _, vt = np.linalg.svd(source.T @ target)
    return u @ vt


def least_squares(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The linear W minimising |source W - target| (ridge-regularised, for k below the dimension)."""
    dim = source.shape[1]
    return np.linalg.solve(source.T @ source + 1e-3 * np.eye(dim), source.T @ target)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def reidentified(undone: np.ndarray, public: np.ndarray, threshold: float) -> tuple[float, float]:
    """Share of rows whose nearest public photo is their own, and whose own is under `threshold`."""
    distances = np.linalg.norm(_unit(undone)[:, None, :] - _unit(public)[None, :, :], axis=-1)
    own = np.diag(distances)
    return float(np.mean(np.argmin(distances, axis=1) == np.arange(len(own)))), float(np.mean(own < threshold))


@dataclass(frozen=True)
class KnownPeopleRow:
    protection: str
    fit: str        # procrustes, regression, the true secret
    known: int      # k
    rank1: float
    at_fmr: float


Undo = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (known clean, known stored, stored) -> clean


def _fitted(fit: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Undo:
    def undo(known_clean: np.ndarray, known_stored: np.ndarray, stored: np.ndarray) -> np.ndarray:
        if len(known_clean) == 0:
            return stored  # nothing to align with: the stored template as it is
        return stored @ fit(_unit(known_stored), _unit(known_clean))
    return undo


def _mlp(known_clean: np.ndarray, known_stored: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """A non-linear map (a small neural network) from stored templates back to the descriptor's space,
    for protections that are not linear; with fewer than 16 pairs there is nothing to fit."""
    from sklearn.neural_network import MLPRegressor

    if len(known_clean) < 16:
        return stored
    network = MLPRegressor(hidden_layer_sizes=(256,), alpha=1e-3, max_iter=400, random_state=0)
    network.fit(_unit(known_stored), _unit(known_clean))
    return network.predict(_unit(stored))


FITS: dict[str, Undo] = {"procrustes": _fitted(procrustes), "regression": _fitted(least_squares), "neural net": _mlp}


def known_people_attack(public: np.ndarray, stored: dict[str, np.ndarray], threshold: float, seed: int,
                        known_counts: tuple[int, ...] = KNOWN_COUNTS) -> list[KnownPeopleRow]:
    """`public`: (people, D) clean embeddings of each person's public photo; `stored`: protection name ->
    (people, D) their stored templates. The first TARGETS people of a seeded order are attacked."""
    order = np.random.default_rng(seed).permutation(len(public))
    targets, pool = order[:TARGETS], order[TARGETS:]
    rows = []
    for protection, templates in stored.items():
        for fit_name, undo in FITS.items():
            for known in (k for k in known_counts if k <= len(pool)):
                chosen = pool[:known]
                undone = undo(public[chosen], templates[chosen], templates[targets])
                rank1, at_fmr = reidentified(undone, public[targets], threshold)
                rows.append(KnownPeopleRow(protection, fit_name, known, rank1, at_fmr))
    return rows


def linkage_attack(site_a: dict[str, np.ndarray], site_b: dict[str, np.ndarray], seed: int,
                   known_counts: tuple[int, ...] = KNOWN_COUNTS) -> list[KnownPeopleRow]:
    """The same people's stored templates at two sites (one row per person in both): align A to B on k
    people known at both, then link each target at A to its template at B (rank-1 among targets)."""
    order = np.random.default_rng(seed).permutation(len(next(iter(site_a.values()))))
    targets, pool = order[:TARGETS], order[TARGETS:]
    rows = []
    for protection in site_a:
        a, b = site_a[protection], site_b[protection]
        for known in (k for k in known_counts if k <= len(pool)):
            chosen = pool[:known]
            aligned = FITS["procrustes"](b[chosen], a[chosen], a[targets])
            rank1, _ = reidentified(aligned, b[targets], threshold=-1.0)
            rows.append(KnownPeopleRow(protection, "procrustes", known, rank1, float("nan")))
    return rows


@dataclass
class KnownPeopleReport:
    people: int
    threshold: float
    rows: list[KnownPeopleRow]
    linkage: list[KnownPeopleRow]


def evaluate_known_people(embedder_name: str, protector_manifest, lfw_root, workers: int = 2,
                          seed: int = 20261207) -> KnownPeopleReport:
    """A3 and two-site linkage on LFW, for the site's keyed layer alone (templates as stored before) and
    for sealed templates (each under its own map); fresh secrets; with the true secret as the ceiling."""
    import secrets

    from kiosk.evaluation.lfw import encode_images, identity_of
    from kiosk.manifest import load_embedder_manifest
    from kiosk.protection import AdversarialProtector
    from kiosk.recognition.matching import comparable
    from kiosk.store.seal import TemplateSeal

    root = lfw_root / "images"
    names = sorted(f"{person.name}/{photo.name}" for person in root.iterdir() if person.is_dir()
                   for photo in person.glob("*.jpg"))
    encoded = encode_images(root, names, embedder_name, workers=workers, label="LFW, every image")
    rows_by_person: dict[str, list[int]] = {}
    for row, name in enumerate(names):
        if encoded.ok[row]:
            rows_by_person.setdefault(identity_of(name), []).append(row)
    people = sorted(p for p, rows in rows_by_person.items() if len(rows) >= 2)
    first, second = ([rows_by_person[p][i] for p in people] for i in (0, 1))
    manifest = load_embedder_manifest(embedder_name)
    public = comparable(encoded.probes[second], manifest.metric)

    def site(photos: list[int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One site's stored templates of `photos`, keyed layer only and sealed; and what the true secret undoes."""
        secret = secrets.token_bytes(32)
        protector = AdversarialProtector(protector_manifest, secret, 1, provider="cpu")
        keyed = protector.protect(encoded.templates[photos])
        seal, salts = TemplateSeal(secret, 1), TemplateSeal.new_salts(len(photos))
        sealed = seal.seal(keyed, salts)
        unkeyed = protector.probe_space(np.eye(keyed.shape[1], dtype=np.float32)).T  # the keyed layer's inverse
        return ({"keyed layer": keyed, "sealed": sealed},
                {"keyed layer": keyed @ unkeyed, "sealed": seal.unseal(sealed, salts) @ unkeyed})

    stored, with_secret = site(first)
    threshold = manifest.threshold.at_fmr(1e-3)
    rows = known_people_attack(public, stored, threshold, seed)
    order = np.random.default_rng(seed).permutation(len(public))
    for protection, undone in with_secret.items():
        rank1, at_fmr = reidentified(undone[order[:TARGETS]], public[order[:TARGETS]], threshold)
        rows.append(KnownPeopleRow(protection, "the true secret", 0, rank1, at_fmr))
    other_site, _ = site(second)
    return KnownPeopleReport(len(people), threshold, rows, linkage_attack(stored, other_site, seed))


def report_lines(report: KnownPeopleReport) -> list[str]:
    """The A3 table and the line per k that `eval privacy` prints."""
    lines = [f"A3 known people: {report.people} LFW people with two photos (enrolled from the first, public photo "
             f"the second), {TARGETS} attacked, k known drawn from the others; re-identified: rank-1 among the "
             f"attacked / matched at the clean FMR 1e-3 threshold ({report.threshold:.4f}); chance "
             f"{100 / TARGETS:.2f}% rank-1"]
    for fit in FITS:
        for protection in ("keyed layer", "sealed"):
            cells = [f"k={r.known}: {100 * r.rank1:.1f}/{100 * r.at_fmr:.1f}%" for r in report.rows
                     if r.fit == fit and r.protection == protection]
            lines.append(f"  {fit:<10} {protection:<11} " + "  ".join(cells))
    ceiling = {r.protection: r for r in report.rows if r.fit == "the true secret"}
    lines.append("  with the true secret: " + "; ".join(f"{name} {100 * r.rank1:.1f}/{100 * r.at_fmr:.1f}%"
                                                       for name, r in ceiling.items()))
    keyed = {r.known: r for r in report.rows if r.fit == "procrustes" and r.protection == "keyed layer"}
    for row in (r for r in report.rows if r.fit == "procrustes" and r.protection == "sealed"):
        lines.append(f"A3 known people (k={row.known}): re-identified {100 * row.rank1:.1f}% rank-1, "
                     f"{100 * row.at_fmr:.1f}% at FMR 1e-3 (the keyed layer alone: {100 * keyed[row.known].rank1:.1f}%)")
    for protection in ("keyed layer", "sealed"):
        cells = [f"k={r.known}: {100 * r.rank1:.1f}%" for r in report.linkage if r.protection == protection]
        lines.append(f"two sites linked (rank-1), {protection}: " + "  ".join(cells))
    return lines
