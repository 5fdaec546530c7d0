"""Verification metrics on tables with known answers, and `eval lfw` end to end on a real subset."""

import json

import numpy as np
import pytest

from kiosk.evaluation.metrics import all_impostor_distances, best_threshold, roc_summary, ten_fold_accuracy, threshold_at_fmr
from tests.test_cli import run_cli


@pytest.mark.parametrize("distances, same, lower, upper", [
    ([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], 0.2, 0.8),          # separable: any cut in the gap
    ([0.1, 0.5, 0.4, 0.9], [1, 1, 0, 0], 0.1, 0.4),          # one error either way; first best wins
    ([0.3, 0.3, 0.3], [1, 1, 1], 0.3, 1.0),                  # all genuine: accept everything
])
def test_best_threshold_maximises_accuracy(distances, same, lower, upper):
    threshold = best_threshold(np.array(distances), np.array(same, dtype=bool))
    assert lower < threshold <= upper


def test_ten_fold_accuracy_counts_each_fold_on_its_own():
    rng = np.random.default_rng(1)
    same = np.tile([True, False], 100)
    distances = np.where(same, rng.uniform(0.0, 0.5, 200), rng.uniform(0.4, 1.0, 200))
    folds = np.repeat(np.arange(10), 20)
    result = ten_fold_accuracy(distances, same, folds)
    assert len(result.per_fold) == 10 and 0.85 < result.mean < 1.0
    perfect = ten_fold_accuracy(np.where(same, 0.1, 0.9), same, folds)
    assert perfect.mean == 1.0 and perfect.std == 0.0


def test_threshold_at_fmr_admits_at_most_that_share_of_impostors():
    impostors = np.random.default_rng(2).uniform(0, 1, 100_000)
    threshold = threshold_at_fmr(impostors, 1e-3)
    assert np.mean(impostors < threshold) <= 1e-3 < np.mean(impostors <= threshold + 1e-4)
    with pytest.raises(ValueError, match="too few"):
        threshold_at_fmr(impostors[:500], 1e-3)


def test_all_impostor_distances_skip_same_identity_pairs():
    embeddings = np.array([[0, 0], [3, 4], [0, 1], [6, 8]], dtype=np.float32)
    identities = np.array(["a", "a", "b", "b"])
    found = np.sort(all_impostor_distances(embeddings, identities, chunk=3))
    np.testing.assert_allclose(found, np.sort([1.0, 10.0, np.hypot(3, 3), 5.0]), rtol=1e-6)


def test_roc_of_separable_scores_has_unit_auc():
    roc = roc_summary(np.array([0.1, 0.2, 0.7, 0.8]), np.array([True, True, False, False]))
    assert roc.auc == 1.0 and roc.tar_at(1e-3) == 1.0


def test_eval_lfw_on_a_real_subset_reports_and_draws(models_built, lfw_dir, tmp_path):
    roc = tmp_path / "roc.png"
    done = run_cli("eval", "lfw", "--pairs-per-fold", "10", "--no-cache", "--roc", str(roc), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pairs"] == 100 and len(report["accuracy_per_fold"]) == 10
    assert report["accuracy_mean"] >= 0.93 and report["roc_auc"] > 0.97
    assert report["detection_failures"] == len(report["failed_images"])
    assert roc.read_bytes().startswith(b"\x89PNG")


def test_evaluation_caches_of_clean_embeddings_are_readable_by_their_owner_only(lfw_dir, tmp_path, monkeypatch,
                                                                                models_built):
    """Clean embeddings (and the face sets and reconstruction grids, which use the same writer) were
    written world-readable (0644): anyone on the machine could link them to the people."""
    import stat

    from kiosk.evaluation import lfw as lfw_module

    monkeypatch.setattr(lfw_module, "cache_dir", lambda: tmp_path / "cache")
    names = ["Colin_Powell/Colin_Powell_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg"]
    encoded = lfw_module.encode_images(lfw_dir / "images", names, workers=1)
    assert np.isfinite(encoded.templates).all()
    (cache_file,) = (tmp_path / "cache" / "eval").glob("*.npz")
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_file.parent.stat().st_mode) == 0o700
    cache_file.chmod(0o644)  # one written by an earlier version
    again = lfw_module.encode_images(lfw_dir / "images", names, workers=1)
    assert np.array_equal(again.templates, encoded.templates)
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600


def test_utkface_names_give_sex_race_and_age_by_the_dataset_convention():
    from kiosk.evaluation.demographics import AGE_BANDS, RACES, groupings, label_cells

    cells = label_cells(["25_1_3_20170104.jpg.chip.jpg", "61_0_0_20170109.jpg.chip.jpg"])
    by = {g.name: g for g in groupings()}
    assert [by["sex"].labels[by["sex"].of_cell[c]] for c in cells] == ["women", "men"]
    assert [by["race"].labels[by["race"].of_cell[c]] for c in cells] == ["Indian", "White"]
    assert [by["age"].labels[by["age"].of_cell[c]] for c in cells] == ["18-29", "60+"]
    assert len(RACES) * len(AGE_BANDS) * 2 == len(by["sex"].of_cell)
    with pytest.raises(ValueError, match="7_1_9_x.jpg: not a UTKFace name"):
        label_cells(["7_1_9_x.jpg"])


def test_group_rates_count_pairs_within_a_group_and_find_the_worst():
    """Two groups of points: women close together (many impostors under the threshold), men far apart;
    the judge takes one pair of women for one person, which the rule leaves out."""
    from kiosk.evaluation.demographics import group_rates, groupings, impostor_pairs, label_cells

    rng = np.random.default_rng(3)
    names = [f"30_{sex}_0_{i}.jpg.chip.jpg" for sex in (1, 0) for i in range(40)]
    spread = np.concatenate([np.full(40, 0.02), np.full(40, 0.5)])
    points = np.concatenate([np.tile([1.0, 0.0, 0.0], (40, 1)), np.tile([0.0, 1.0, 0.0], (40, 1))])
    points = (points + spread[:, None] * rng.standard_normal((80, 3))).astype(np.float32)
    judge = np.arange(80, dtype=np.float32)[:, None] * np.array([[10.0, 0, 0]], np.float32)
    judge[1] = judge[0]  # one pair the other descriptor calls one person
    pairs = impostor_pairs(points, points, label_cells(names), judge, judge, {"rule": 1.0}, keep_under=2.0)
    assert pairs.totals["rule"].sum() == 80 * 79 - 2
    by_sex = group_rates(pairs, "rule", 0.2, next(g for g in groupings() if g.name == "sex"))
    women, men = by_sex.groups[1], by_sex.groups[0]
    assert (women.pairs, men.pairs) == (40 * 39 - 2, 40 * 39)
    assert women.false_matches == 40 * 39 - 2 and men.false_matches < 40
    assert by_sex.worst == women and by_sex.worst_ratio == pytest.approx(women.fmr / by_sex.overall.fmr)


def test_the_site_check_names_the_worst_measured_group_and_only_where_groups_can_be_compared():
    """Pairs per (stranger cell, enrolled cell): women White strangers mistaken for enrolled women
    White at 3 times the rate of men White; the other races too few to be measured."""
    from kiosk.evaluation.demographics import CELLS, _worst_within, label_cells

    women, men, indian = label_cells(["30_1_0_1.jpg.chip.jpg", "30_0_0_1.jpg.chip.jpg", "30_1_3_1.jpg.chip.jpg"])
    pairs, false = np.zeros((CELLS, CELLS)), np.zeros((CELLS, CELLS))
    pairs[women, women] = pairs[men, men] = pairs[women, men] = pairs[men, women] = 10_000
    false[women, women], false[men, men] = 60, 20
    pairs[indian, indian], false[indian, indian] = 10, 5  # a far higher rate on too few pairs to be ranked
    overall = false.sum() / pairs.sum()
    worst = _worst_within(pairs, false, overall)
    assert worst["sex"] == ("women", pytest.approx((60 + 5) / (10_000 + 10) / overall))  # women of every race
    assert "race" not in worst  # White is the only race measured: nothing to compare it with
    assert worst["sex and race"][0] == "women White"


def test_claim_comparison_counts_a_far_photo_as_missed_and_a_twin_stranger_as_a_stolen_card(models_built):
    """20 people with two photos (one's second photo is someone else's face) and 10 strangers, one of
    whom is an enrolled person under another name: both ways of deciding must see each."""
    from kiosk.config import RecognitionConfig
    from kiosk.evaluation.claims import compare_claims
    from kiosk.evaluation.lfw import EncodedSet
    from kiosk.manifest import load_embedder_manifest, load_protector_for

    rng = np.random.default_rng(7)
    faces = rng.normal(size=(31, 128)).astype(np.float32)
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    names, rows = [], []
    for person in range(20):
        second = faces[30] if person == 4 else faces[person]  # person 4's "second photo" is another face
        names += [f"P{person:02d}/P{person:02d}_0001.jpg", f"P{person:02d}/P{person:02d}_0002.jpg"]
        rows += [faces[person], second]
    for stranger in range(10):
        names.append(f"S{stranger:02d}/S{stranger:02d}_0001.jpg")
        rows.append(faces[3] if stranger == 0 else faces[20 + stranger])  # S00 is P03 under another name
    photos = np.stack(rows)
    encoded = EncodedSet(names, photos.copy(), photos.copy())
    protector = load_protector_for(load_embedder_manifest())
    report = compare_claims(encoded, protector, protector.threshold, RecognitionConfig(), [20], door_fmr=1e-5)
    assert (report.real_people, report.strangers, report.impostor_pairs) == (20, 10, 200)
    row = report.sizes[0]
    assert row.claim_fnir == pytest.approx(1 / 20) and row.identify_fnir == pytest.approx(1 / 20)
    assert row.stolen_card_pass == pytest.approx(1 / 200) and row.identify_fpir == pytest.approx(1 / 10)
    assert report.door_fnir == pytest.approx(1 / 20) and report.door_stolen_card_pass == pytest.approx(1 / 200)
