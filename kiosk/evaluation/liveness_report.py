"""The text and JSON of `eval liveness`: per set and for all sets together, then file by file."""

import numpy as np

from kiosk.evaluation.liveness import CUES, Outcome, error_rates
from kiosk.evaluation.liveness_kiosk import NO_OUTCOME, KioskVisit
from kiosk.liveness.fusion import LivenessPolicy


def _summary(outcomes: list[Outcome]) -> dict:
    live = [o for o in outcomes if o.presentation.label == "live" and o.presentation.is_video]
    times = [o.seconds_to_live for o in live if o.seconds_to_live is not None]
    return {
        "presentations": len(outcomes),
        "rates": {group: {cue: list(counts) for cue, counts in row.items()} for group, row in error_rates(outcomes).items()},
        "seconds_to_live": {"median": float(np.median(times)), "worst": max(times)} if times else None,
    }


def _summary_lines(name: str, summary: dict) -> list[str]:
    lines = [f"{name} ({summary['presentations']} presentations): APCER (attacks accepted) / BPCER (live refused)",
             f"  {'group':<24} {'rate':<6}" + "".join(f"{cue:>9}" for cue in CUES)]
    for group, row in summary["rates"].items():
        rate = "BPCER" if "bona fide" in group else "APCER"
        cells = "".join(f"{f'{row[cue][0]}/{row[cue][1]}':>9}" if cue in row else f"{'-':>9}" for cue in CUES)
        lines.append(f"  {group:<24} {rate:<6}{cells}")
    times = summary["seconds_to_live"]
    if times:
        lines.append(f"  time from the first face to a live verdict (live videos): median {times['median']:.2f} s, "
                     f"worst {times['worst']:.2f} s")
    return lines


def end_to_end(outcomes: list[Outcome], visits: dict[tuple[str, str], KioskVisit]) -> tuple[dict, list[str]]:
    """The kiosk's own figures: videos by what it recorded; masks and cut-outs by the passive cues alone,
    since whoever wears one blinks, talks and turns for real."""
    def key(o: Outcome) -> tuple[str, str]:
        return o.presentation.dataset, o.presentation.path

    videos = [o for o in outcomes if o.presentation.is_video]
    live = [o for o in videos if o.presentation.label == "live"]

    def granted(attack: str) -> list[bool]:
        return [visits[key(o)].outcome == "granted" for o in videos if o.presentation.attack == attack]

    worn = [o.accepted["fused"] for o in outcomes if o.presentation.attack in ("mask", "cutout")]
    live_refused = (sum(visits[key(o)].outcome != "granted" for o in live), len(live))
    not_enrolled = sum(not visits[key(o)].enrolled for o in live)
    prints, replays = granted("print"), granted("video replay")
    lines = [f"end to end: {len(visits)} visits, {sum(v.outcome == NO_OUTCOME for v in visits.values())} without a "
             f"recorded outcome",
             f"live refused, passive only: {live_refused[0]}/{live_refused[1]}"
             + (f" ({not_enrolled} of them not enrolled: no usable frame)" if not_enrolled else "")
             + f"; prints accepted {sum(prints)}/"
             f"{len(prints)}; replays accepted {sum(replays)}/{len(replays)}; masks and cut-outs accepted "
             f"{sum(worn)}/{len(worn)}"]
    split = {o.presentation.path: visits[key(o)].restarts for o in live if visits[key(o)].enrolled}
    lines.append(f"continuity check on one live face: started a visit over {sum(split.values())} times in "
                 f"{len(split)} videos of an enrolled person"
                 + "".join(f"; {count} in {path}" for path, count in split.items() if count))
    figures = {"visits": len(visits), "without_outcome": sum(v.outcome == NO_OUTCOME for v in visits.values()),
               "live_refused": live_refused, "prints_accepted": (sum(prints), len(prints)),
               "replays_accepted": (sum(replays), len(replays)),
               "masks_and_cutouts_accepted_passive": (sum(worn), len(worn)),
               "continuity_restarts_live": split}
    return figures, lines


def liveness_report(outcomes: list[Outcome], policy: LivenessPolicy,
                    visits: dict[tuple[str, str], KioskVisit] | None = None) -> tuple[dict, str]:
    sets = list(dict.fromkeys(o.presentation.dataset for o in outcomes))
    summaries = {name: _summary([o for o in outcomes if o.presentation.dataset == name]) for name in sets}
    if len(sets) > 1:
        summaries["all sets"] = _summary(outcomes)
    lines = [f"liveness, passive cues (a recording cannot answer the prompt): texture operating point "
             f"{policy.texture_threshold:g}, time limit {policy.timeout_ms / 1000:g} s"]
    for name, summary in summaries.items():
        lines += _summary_lines(name, summary)
    lines += ["file by file (accepted = judged live):",
              f"  {'file':<58} {'label':<6}" + "".join(f"{cue:>8}" for cue in CUES)
              + f" {'texture':>8} {'blinks':>6} {'turns':>5} {'live at':>8} {'the kiosk records':<28}  reason"]
    for o in outcomes:
        cells = "".join(f"{('live' if o.accepted[cue] else 'spoof') if cue in o.accepted else '-':>8}" for cue in CUES)
        texture_text = f"{o.texture_median:.3f}" if o.texture_median is not None else "-"
        live_at = f"{o.seconds_to_live:.2f} s" if o.seconds_to_live is not None else "-"
        visit = (visits or {}).get((o.presentation.dataset, o.presentation.path))
        kiosk = "-" if visit is None else (f"{visit.outcome} at {visit.seconds:.1f} s" if visit.seconds is not None
                                           else visit.outcome) + ("" if visit.enrolled else " (not enrolled)")
        lines.append(f"  {o.presentation.dataset + '/' + o.presentation.path:<58} {o.presentation.label:<6}{cells} "
                     f"{texture_text:>8} {o.blinks:>6} {o.turns:>5} {live_at:>8} {kiosk:<28}  {o.reason}")
    if visits is not None:
        figures, end_lines = end_to_end(outcomes, visits)
        lines += end_lines
    data = {"sets": summaries, "end_to_end": figures if visits is not None else None,
            "files": [{"set": o.presentation.dataset, "path": o.presentation.path, "label": o.presentation.label,
                       "attack": o.presentation.attack, "accepted": o.accepted, "frames": o.frames,
                       "seconds_to_live": o.seconds_to_live, "texture": o.texture_median,
                       "blinks": o.blinks, "turns": o.turns, "reason": o.reason,
                       "kiosk": vars(visits[(o.presentation.dataset, o.presentation.path)]) if visits else None}
                      for o in outcomes],
            "texture_threshold": policy.texture_threshold, "timeout_s": policy.timeout_ms / 1000,
            "prompt_after_s": policy.prompt_after_ms / 1000}
    return data, "\n".join(lines)
