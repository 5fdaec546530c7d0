"""False matches by demographic group, and whether thresholds transfer between sources (`eval demographics`).

UTKFace names its files `[age]_[gender]_[race]_[date&time].jpg` (the dataset's own convention:
gender 0 male, 1 female; race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others, e.g. Hispanic or
Middle Eastern), labels its authors assigned. Its adults (18+) are probes and protected templates of
each other, as the kiosk compares them; a group's false match rate counts the impostor pairs *within*
the group (a stranger is most often mistaken for someone who looks like them), a pair of groups
counts probes of one against templates of the other.

UTKFace has no identities and repeats its people (its photos against each other give far more
false matches than LFW's rate predicts). A pair the other descriptor takes for one person is left
out, at two strictnesses, both reported: the calibration's rule (its LFW-only threshold at
JUDGE_FMR) leaves repeats in, so it overstates false matches; the strict rule (at STRICT_JUDGE_FMR)
also removes look-alikes both descriptors confuse, so it understates them. The truth lies between.
No group has genuine pairs with labels (UTKFace has no identities, LFW no demographic labels), so
false non-matches by group cannot be measured here.

Transfer: thresholds set on one source only, measured on the other (LFW-only thresholds on
UTKFace's pairs, UTKFace-only thresholds on LFW's impostor pairs), as measured / nominal.
"""

import math
import re
from dataclasses import dataclass, field

import numpy as np

from kiosk.evaluation.calibration import JUDGE_FMR, TEMPLATE_PAIR_FMRS, ImpostorTail, OperatingPoints, _distances
from kiosk.manifest import ThresholdSpec

STRICT_JUDGE_FMR = 1e-3
SEXES = ("men", "women")
RACES = ("White", "Black", "Asian", "Indian", "other")
AGE_BANDS = ((18, "18-29"), (30, "30-44"), (45, "45-59"), (60, "60+"))
CELLS = len(SEXES) * len(RACES) * len(AGE_BANDS)
MIN_EXPECTED = 10  # a group is ranked only where the overall rate predicts this many false matches in it
UTK_LABELS = re.compile(r"^(\d+)_([01])_([0-4])_\d+\.jpg\.chip\.jpg$")


def label_cells(names: list[str]) -> np.ndarray:
    """Each name's cell: (sex, race, age band) as one index; names outside the convention raise."""
    cells = np.empty(len(names), dtype=np.int64)
    for row, name in enumerate(names):
        match = UTK_LABELS.match(name)
        if match is None:
            raise ValueError(f"{name}: not a UTKFace name of the form age_gender_race_datetime.jpg.chip.jpg")
        age, sex, race = int(match.group(1)), int(match.group(2)), int(match.group(3))
        band = max(i for i, (start, _) in enumerate(AGE_BANDS) if age >= start)
        cells[row] = (sex * len(RACES) + race) * len(AGE_BANDS) + band
    return cells


@dataclass(frozen=True)
class Grouping:
    """A way of cutting the cells into groups (by sex, by race, by sex and race, by age)."""

    name: str
    labels: tuple[str, ...]
    of_cell: np.ndarray  # (CELLS,) group index of each cell


def groupings() -> list[Grouping]:
    sex, race, band = np.divmod(np.arange(CELLS) // len(AGE_BANDS), len(RACES)) + (np.arange(CELLS) % len(AGE_BANDS),)
    return [Grouping("sex", SEXES, sex), Grouping("race", RACES, race),
            Grouping("sex and race", tuple(f"{s} {r}" for s in SEXES for r in RACES), sex * len(RACES) + race),
            Grouping("age", tuple(label for _, label in AGE_BANDS), band)]


@dataclass
class ImpostorPairs:
    """Impostor pairs of one set, per (probe cell, template cell): how many there are under each
    overlap rule, and the close ones (distance under `keep_under`) with the judge's distance."""

    rules: dict[str, float]               # rule name -> judge threshold (pairs under it are left out)
    totals: dict[str, np.ndarray]         # rule name -> (CELLS, CELLS) pair counts
    probe_cell: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    template_cell: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    distance: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    judged: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))

    def kept(self, rule: str) -> np.ndarray:
        return self.judged >= self.rules[rule]

    def under(self, rule: str, threshold: float) -> np.ndarray:
        return self.kept(rule) & (self.distance < threshold)

    def threshold(self, rule: str, fmr: float) -> float | None:
        """The threshold at `fmr` over every pair of the rule, where enough false matches resolve it."""
        total = int(self.totals[rule].sum())
        count = int(math.floor(fmr * total))
        close = np.sort(self.distance[self.kept(rule)])
        return float(close[count]) if 10 <= count < len(close) else None


def impostor_pairs(probes: np.ndarray, templates: np.ndarray, cells: np.ndarray, judge_probes: np.ndarray,
                   judge_templates: np.ndarray, rules: dict[str, float], keep_under: float,
                   chunk: int = 512) -> ImpostorPairs:
    """Every probe against every other image's template (rows with NaN in either descriptor skipped)."""
    usable = ~np.isnan(probes[:, 0]) & ~np.isnan(templates[:, 0]) & ~np.isnan(judge_probes[:, 0])
    probes, templates, cells = probes[usable], templates[usable], cells[usable]
    judge_probes, judge_templates = judge_probes[usable], judge_templates[usable]
    pairs = ImpostorPairs(rules, {rule: np.zeros((CELLS, CELLS), np.int64) for rule in rules})
    found: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(probes), chunk):
        rows = np.arange(start, min(start + chunk, len(probes)))
        other = rows[:, None] != np.arange(len(templates))[None, :]
        judged = _distances(judge_probes[rows], judge_templates)
        pair_cell = cells[rows, None] * CELLS + cells[None, :]
        for rule, limit in rules.items():
            pairs.totals[rule] += np.bincount(pair_cell[other & (judged >= limit)], minlength=CELLS * CELLS
                                              ).reshape(CELLS, CELLS)
        distance = _distances(probes[rows], templates)
        close = other & (distance < keep_under)
        probe_index, template_index = np.nonzero(close)
        found.append((cells[rows][probe_index], cells[template_index], distance[close], judged[close]))
    pairs.probe_cell, pairs.template_cell, pairs.distance, pairs.judged = (np.concatenate(part) for part in zip(*found))
    return pairs


@dataclass(frozen=True)
class GroupRate:
    group: str
    pairs: int
    false_matches: int

    @property
    def fmr(self) -> float:
        return self.false_matches / self.pairs if self.pairs else float("nan")


@dataclass(frozen=True)
class GroupingRates:
    """Within-group rates of one grouping at one threshold, the overall rate, and the worst group."""

    grouping: str
    overall: GroupRate
    groups: list[GroupRate]

    def ranked(self) -> list[GroupRate]:
        """Groups with pairs enough that the overall rate predicts MIN_EXPECTED false matches in them."""
        return [g for g in self.groups if g.pairs * self.overall.fmr >= MIN_EXPECTED]

    @property
    def worst(self) -> GroupRate | None:
        return max(self.ranked(), key=lambda g: g.fmr, default=None)

    @property
    def worst_ratio(self) -> float | None:
        worst = self.worst
        return worst.fmr / self.overall.fmr if worst is not None and self.overall.fmr > 0 else None


def group_rates(pairs: ImpostorPairs, rule: str, threshold: float, grouping: Grouping) -> GroupingRates:
    totals, under = pairs.totals[rule], pairs.under(rule, threshold)
    probe_group, template_group = grouping.of_cell[pairs.probe_cell[under]], grouping.of_cell[pairs.template_cell[under]]
    groups = []
    for index, label in enumerate(grouping.labels):
        members = grouping.of_cell == index
        groups.append(GroupRate(label, int(totals[np.ix_(members, members)].sum()),
                                int(np.sum((probe_group == index) & (template_group == index)))))
    return GroupingRates(grouping.name, GroupRate("everyone", int(totals.sum()), int(under.sum())), groups)


def cross_group_fmr(pairs: ImpostorPairs, rule: str, threshold: float, grouping: Grouping) -> tuple[np.ndarray, np.ndarray]:
    """(groups, groups) false match rates of probes of one group against templates of another, and
    the pair counts behind them."""
    size = len(grouping.labels)
    onto = np.zeros((size, CELLS), np.int64)
    onto[grouping.of_cell, np.arange(CELLS)] = 1
    counts = onto @ pairs.totals[rule] @ onto.T
    under = pairs.under(rule, threshold)
    matches = np.zeros((size, size), np.int64)
    np.add.at(matches, (grouping.of_cell[pairs.probe_cell[under]], grouping.of_cell[pairs.template_cell[under]]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return matches / counts, counts


@dataclass(frozen=True)
class Transfer:
    """Thresholds set on one source, measured on another."""

    calibrated_on: str
    measured_on: str
    rule: str
    nominal: float
    threshold: float
    pairs: int
    false_matches: int

    @property
    def ratio(self) -> float:
        return self.false_matches / self.pairs / self.nominal


def transfer_lfw_to_utk(lfw_tail: ImpostorTail, utk: ImpostorPairs, rule: str, fmrs: tuple[float, ...]) -> list[Transfer]:
    result = []
    for fmr in fmrs:
        threshold = lfw_tail.threshold(fmr)
        if threshold is not None:
            result.append(Transfer("LFW", "UTKFace", rule, fmr, threshold, int(utk.totals[rule].sum()),
                                   int(utk.under(rule, threshold).sum())))
    return result


def transfer_utk_to_lfw(utk: ImpostorPairs, lfw_tail: ImpostorTail, rule: str, fmrs: tuple[float, ...]) -> list[Transfer]:
    result = []
    for fmr in fmrs:
        threshold = utk.threshold(rule, fmr)
        if threshold is not None:
            result.append(Transfer("UTKFace", "LFW", rule, fmr, threshold, lfw_tail.total, lfw_tail.below(threshold)))
    return result


def nominal_fmr(points: dict[float, float], threshold: float) -> float:
    """The strictest calibrated rate this threshold is at least as strict as (a fused threshold capped
    by the single one lies between two fused points: the looser one is what it promises)."""
    return min((fmr for fmr, value in points.items() if value >= threshold - 1e-9), default=max(points))



GALLERY_SIZES = (10, 100, 1000)  # people, one template each
TRANSFER_FMRS = (1e-4, 1e-5, 1e-6)
CROSS_AT = "single, 10 people"  # the loosest kiosk threshold: the most false matches behind each cell


@dataclass(frozen=True)
class KioskThreshold:
    name: str         # "single, 100 people"
    threshold: float
    nominal: float    # the calibrated rate it stands for


SITE_SIZES = (100, 300, 1000)
SITE_SEEDS = 3


@dataclass(frozen=True)
class SiteCheck:
    """A kiosk whose gallery is `people` UTKFace adults (enrolled as the kiosk enrolls: a face closer to an
    enrolled one than the duplicate check allows is refused), the other adults as strangers: the false
    match rate per comparison at its threshold for that gallery, before and after its gallery check."""

    calibrated_on: str      # where the threshold and the check's reference came from
    people: int
    nominal: float
    threshold: float
    shift: float            # mean over the seeds
    pairs: int
    false_matches_before: int
    false_matches_after: int
    worst_after: dict[str, tuple[str, float]]  # grouping -> its worst group after the check, and its ratio to the overall

    @property
    def ratio_before(self) -> float:
        return self.false_matches_before / self.pairs / self.nominal

    @property
    def ratio_after(self) -> float:
        return self.false_matches_after / self.pairs / self.nominal


@dataclass(frozen=True)
class SitePlan:
    """What a check is run with: the threshold (and the rate it stands for) a gallery of `people` gets,
    and the template-vs-template operating points its gallery check compares with."""

    calibrated_on: str
    people: int
    threshold: float
    nominal: float
    reference: ThresholdSpec | None


def site_checks(probes: np.ndarray, templates: np.ndarray, cells: np.ndarray, judge_probes: np.ndarray,
                judge_templates: np.ndarray, rule_limit: float, duplicate: float, plans: list[SitePlan]) -> list[SiteCheck]:
    """`SiteCheck` for each plan, summed over SITE_SEEDS random galleries."""
    from kiosk.recognition.gallery_tail import gallery_tail

    usable = np.flatnonzero(~np.isnan(probes[:, 0]) & ~np.isnan(templates[:, 0]) & ~np.isnan(judge_probes[:, 0]))
    checks = []
    for plan in plans:
        threshold = plan.threshold
        pairs = before = after = 0
        shifts = []
        cell_pairs, cell_after = np.zeros((CELLS, CELLS)), np.zeros((CELLS, CELLS))
        for seed in range(SITE_SEEDS):
            enrolled: list[int] = []
            for row in np.random.default_rng(seed).permutation(usable):
                if len(enrolled) == plan.people:
                    break
                if not enrolled or _distances(templates[[row]], templates[enrolled]).min() >= duplicate:
                    enrolled.append(int(row))
            tail = gallery_tail(templates[enrolled], np.array(enrolled, dtype=object), plan.reference)
            shifts.append(tail.shift)
            strangers = np.setdiff1d(usable, enrolled)
            distance = _distances(probes[strangers], templates[enrolled])
            kept = _distances(judge_probes[strangers], judge_templates[enrolled]) >= rule_limit
            pairs += int(kept.sum())
            before += int(np.sum(kept & (distance < threshold)))
            matched = kept & (distance < threshold - tail.shift)
            after += int(matched.sum())
            cell = (cells[strangers][:, None] * CELLS + cells[enrolled][None, :])
            cell_pairs += np.bincount(cell[kept], minlength=CELLS * CELLS).reshape(CELLS, CELLS)
            cell_after += np.bincount(cell[matched], minlength=CELLS * CELLS).reshape(CELLS, CELLS)
        overall = after / pairs if pairs else 0.0
        checks.append(SiteCheck(plan.calibrated_on, plan.people, plan.nominal, threshold, float(np.mean(shifts)),
                                pairs, before, after, _worst_within(cell_pairs, cell_after, overall)))
    return checks


def _worst_within(cell_pairs: np.ndarray, cell_false: np.ndarray, overall: float) -> dict[str, tuple[str, float]]:
    """For each grouping, the group whose strangers are falsely matched to its own members most often,
    against the overall rate; only groups where the overall rate predicts MIN_EXPECTED false matches, and
    only groupings where two groups or more are that well measured (one alone is no comparison)."""
    worst = {}
    for grouping in groupings():
        members = np.eye(len(grouping.labels))[grouping.of_cell]  # (CELLS, groups)
        within_pairs = np.einsum("ig,ij,jg->g", members, cell_pairs, members)
        within_false = np.einsum("ig,ij,jg->g", members, cell_false, members)
        eligible = [g for g in range(len(grouping.labels)) if within_pairs[g] * overall >= MIN_EXPECTED]
        if len(eligible) >= 2 and overall:
            top = max(eligible, key=lambda g: within_false[g] / within_pairs[g])
            worst[grouping.name] = (grouping.labels[top], float(within_false[top] / within_pairs[top] / overall))
    return worst


def kiosk_site_plans(protector_manifest, false_accepts_per_day: float, attempts_per_day: int) -> list[SitePlan]:
    """The kiosk as shipped: its threshold for each of SITE_SIZES, its calibration's template pairs."""
    from kiosk.runtime.decisions import threshold_for_gallery

    single = protector_manifest.threshold
    plans = []
    for people in SITE_SIZES:
        threshold = threshold_for_gallery(single, false_accepts_per_day, attempts_per_day, people)
        plans.append(SitePlan("LFW and UTKFace", people, threshold, nominal_fmr(_points(single), threshold),
                              protector_manifest.template_pairs))
    return plans


def heldout_site_plans(lfw_tail: ImpostorTail, lfw_template_pairs: ImpostorTail) -> list[SitePlan]:
    """UTKFace held out of everything: LFW-only thresholds at TRANSFER_FMRS and an LFW-only reference for
    the gallery check, for each of SITE_SIZES: does the check make a foreign calibration keep its promise?"""
    points = OperatingPoints.from_tail(lfw_template_pairs, TEMPLATE_PAIR_FMRS)
    reference = ThresholdSpec(value=points.thresholds[max(points.thresholds)], target_fmr=max(points.thresholds),
                              operating_points=points.thresholds)
    return [SitePlan("LFW only", people, threshold, fmr, reference)
            for fmr in TRANSFER_FMRS[1:] if (threshold := lfw_tail.threshold(fmr)) is not None
            for people in SITE_SIZES]


@dataclass
class DemographicsReport:
    images: int
    failed: int
    cells: dict[str, int]                          # images per sex and race
    rules: dict[str, float]                        # rule -> judge threshold
    left_out: dict[str, int]                       # rule -> pairs the judge left out
    thresholds: list[KioskThreshold]
    rates: dict[str, dict[str, list[GroupingRates]]]  # rule -> threshold name -> per grouping
    transfer: list[Transfer]
    lfw_pairs: int
    cross: dict[str, tuple[np.ndarray, np.ndarray]]  # rule -> sex-and-race FMR matrix and pairs, at CROSS_AT
    sites: list[SiteCheck]  # the kiosk's gallery check on UTKFace galleries (strict rule)


def kiosk_thresholds(single, fused, false_accepts_per_day: float, attempts_per_day: int) -> list[KioskThreshold]:
    """The thresholds a kiosk with the default budget picks for GALLERY_SIZES, single and fused."""
    from kiosk.runtime.decisions import threshold_for_gallery

    found = []
    for people in GALLERY_SIZES:
        one = threshold_for_gallery(single, false_accepts_per_day, attempts_per_day, people)
        many = min(one, threshold_for_gallery(fused, false_accepts_per_day, attempts_per_day, people))
        found += [KioskThreshold(f"single, {people} people", one, nominal_fmr(_points(single), one)),
                  KioskThreshold(f"fused, {people} people", many, nominal_fmr(_points(fused), many))]
    return found


def _points(spec) -> dict[float, float]:
    return {spec.target_fmr: spec.value, **spec.operating_points}


def demographics(embedder_name: str, judge_name: str, protector_manifest, lfw_root, utk_root,
                 false_accepts_per_day: float, attempts_per_day: int, duplicate_fmr: float,
                 workers: int = 2) -> DemographicsReport:
    """Group rates at the kiosk's thresholds and the transfer of one-source thresholds, in the
    protected space (fresh secret; the keyed layer keeps distances, the noise is the protector's)."""
    import secrets

    from kiosk.evaluation.calibration import Judge, adult_utkface_images, impostor_tail
    from kiosk.evaluation.lfw import LfwPairs, encode_images, encode_lfw, identity_of
    from kiosk.manifest import load_embedder_manifest
    from kiosk.protection import AdversarialProtector
    from kiosk.recognition.matching import comparable

    protector = AdversarialProtector(protector_manifest, secrets.token_bytes(32), 1, provider="cpu")
    pairs = LfwPairs.load(lfw_root)
    utk_names = adult_utkface_images(utk_root)

    def protected(encoded) -> tuple[np.ndarray, np.ndarray]:
        """Probes in the templates' space and protected templates; failed rows NaN."""
        ok = encoded.ok
        templates, probes = np.full_like(encoded.templates, np.nan), np.full_like(encoded.probes, np.nan)
        templates[ok], probes[ok] = protector.protect(encoded.templates[ok]), protector.probe_space(encoded.probes[ok])
        return probes, templates

    def judged(encoded) -> tuple[np.ndarray, np.ndarray]:
        metric = load_embedder_manifest(judge_name).metric
        return comparable(encoded.probes, metric), comparable(encoded.templates, metric)

    lfw_ids = np.array([identity_of(name) for name in pairs.images])
    lfw_probes, lfw_templates = protected(encode_lfw(pairs, embedder_name, workers=workers))
    judge_lfw_probes, judge_lfw_templates = judged(encode_lfw(pairs, judge_name, workers=workers))
    judge_tail, _ = impostor_tail(judge_lfw_probes, judge_lfw_templates, lfw_ids, lfw_ids,
                                  max_fmr=STRICT_JUDGE_FMR)
    rules = {"calibration rule": judge_tail.required(JUDGE_FMR, "overlap judge"),
             "strict rule": judge_tail.required(STRICT_JUDGE_FMR, "strict overlap judge")}
    lfw_tail, _ = impostor_tail(lfw_probes, lfw_templates, lfw_ids, lfw_ids,
                                Judge(judge_lfw_probes, judge_lfw_templates, rules["calibration rule"]))
    lfw_template_tail, _ = impostor_tail(lfw_templates, lfw_templates, lfw_ids, lfw_ids,
                                         Judge(judge_lfw_templates, judge_lfw_templates, rules["calibration rule"]),
                                         max_fmr=max(TEMPLATE_PAIR_FMRS))

    utk = encode_images(utk_root, utk_names, embedder_name, workers=workers, label="UTKFace adults")
    utk_probes, utk_templates = protected(utk)
    judge_utk_probes, judge_utk_templates = judged(encode_images(utk_root, utk_names, judge_name, workers=workers,
                                                                 label="UTKFace adults"))
    cells = label_cells(utk_names)
    single, fused = protector_manifest.threshold, protector_manifest.fused_threshold
    utk_pairs = impostor_pairs(utk_probes, utk_templates, cells, judge_utk_probes, judge_utk_templates, rules,
                               keep_under=single.value)
    usable = ~np.isnan(utk_probes[:, 0]) & ~np.isnan(judge_utk_probes[:, 0])
    everyone = int(usable.sum()) * (int(usable.sum()) - 1)
    thresholds = kiosk_thresholds(single, fused, false_accepts_per_day, attempts_per_day)
    rates = {rule: {t.name: [group_rates(utk_pairs, rule, t.threshold, g) for g in groupings()] for t in thresholds}
             for rule in rules}
    transfer = [item for rule in rules for item in transfer_lfw_to_utk(lfw_tail, utk_pairs, rule, TRANSFER_FMRS)]
    transfer += [item for rule in rules for item in transfer_utk_to_lfw(utk_pairs, lfw_tail, rule, TRANSFER_FMRS)]
    sex_race = groupings()[2]
    per_cell = np.bincount(sex_race.of_cell[cells[usable]], minlength=len(sex_race.labels))
    at = next(t.threshold for t in thresholds if t.name == CROSS_AT)
    return DemographicsReport(len(utk_names), int((~usable).sum()), dict(zip(sex_race.labels, per_cell.tolist())),
                              rules, {rule: everyone - int(utk_pairs.totals[rule].sum()) for rule in rules},
                              thresholds, rates, transfer, lfw_tail.total,
                              {rule: cross_group_fmr(utk_pairs, rule, at, sex_race) for rule in rules},
                              site_checks(utk_probes, utk_templates, cells, judge_utk_probes, judge_utk_templates,
                                          rules["strict rule"], single.at_fmr(duplicate_fmr),
                                          kiosk_site_plans(protector_manifest, false_accepts_per_day, attempts_per_day)
                                          + heldout_site_plans(lfw_tail, lfw_template_tail)))


def _rate(rate: GroupRate) -> str:
    return f"{rate.fmr:.2g} ({rate.false_matches:,} of {rate.pairs / 1e6:.2f} M pairs)"


def report_lines(report: DemographicsReport, detail_at: tuple[str, ...] = (CROSS_AT, "single, 100 people")) -> list[str]:
    """What `eval demographics` prints: for each rule and kiosk threshold the overall rate, the worst
    group against it; group by group at `detail_at`; then the transfer lines."""
    lines = [f"UTKFace adults: {report.images:,} images ({report.failed} without a usable face), labels from the file "
             "names (age_gender_race: gender 0 male, 1 female; race 0 White, 1 Black, 2 Asian, 3 Indian, 4 other)",
             "  images: " + ", ".join(f"{group} {count:,}" for group, count in report.cells.items())]
    for rule, limit in report.rules.items():
        lines.append(f"{rule}: pairs the other descriptor puts under {limit:.4f} are left out as possibly one person "
                     f"({report.left_out[rule]:,} pairs)")
        for kiosk in report.thresholds:
            by = {rates.grouping: rates for rates in report.rates[rule][kiosk.name]}
            overall = by["sex"].overall
            lines.append(f"  {kiosk.name}: threshold {kiosk.threshold:.4f} (calibrated FMR {kiosk.nominal:g}): "
                         f"measured {_rate(overall)} = {overall.fmr / kiosk.nominal:.1f}x nominal")
            for rates in by.values():
                worst, ratio = rates.worst, rates.worst_ratio
                if worst is not None and ratio is not None:
                    lines.append(f"    worst group FMR at the kiosk threshold ({rates.grouping}): {ratio:.1f}x the "
                                 f"overall ({worst.group}, {worst.pairs / 1e6:.2f} M impostor pairs, "
                                 f"{worst.false_matches} false matches)")
                if kiosk.name in detail_at:
                    lines.append(f"      {rates.grouping}: " + "; ".join(
                        f"{g.group} {_rate(g)}" for g in rates.groups))
    for site in report.sites:
        worst_group = ("; worst group after: " + ", ".join(f"{grouping} {ratio:.1f}x ({group})" for grouping, (group, ratio)
                                                           in site.worst_after.items()) if site.worst_after else "")
        lines.append(f"kiosk gallery check, {site.people} UTKFace adults enrolled ({SITE_SEEDS} galleries, strict "
                     f"rule), calibrated on {site.calibrated_on}: threshold {site.threshold:.4f} (FMR {site.nominal:g}) "
                     f"tightened by {site.shift:.4f}; "
                     f"strangers' false matches {site.ratio_before:.1f}x nominal before ({site.false_matches_before:,}"
                     f" of {site.pairs / 1e6:.2f} M comparisons), {site.ratio_after:.1f}x after "
                     f"({site.false_matches_after:,}){worst_group}")
    for item in report.transfer:
        lines.append(f"calibration transfer: {item.calibrated_on}-only thresholds measured on {item.measured_on}: "
                     f"{item.ratio:.1f}x nominal at FMR {item.nominal:g} ({item.false_matches:,} false matches of "
                     f"{item.pairs / 1e6:.1f} M pairs, expected {item.nominal * item.pairs:.0f}; UTKFace pairs by the "
                     f"{item.rule})")
    return lines
