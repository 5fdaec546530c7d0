"""`gallery plan | apply | list | show | remove | export`: administer who may pass, from YAML."""

import argparse
import json
from pathlib import Path

from kiosk.commands import add_command
from kiosk.commands.config_check import add_config_option
from kiosk.config import KioskConfig, load_config
from kiosk.errors import ConfigError, FacegateError
from kiosk.gallery.plan import Change, plan_changes
from kiosk.gallery.spec import load_gallery_file
from kiosk.gallery.target import is_site, open_gallery
from kiosk.manifest import load_embedder_manifest, load_protector_for
from kiosk.protection import protector_for

SYMBOLS = {"add": "+", "update": "~", "re-enroll": "*", "disable": "-", "remove": "x", "unchanged": "="}


def register(subparsers) -> None:
    group = subparsers.add_parser("gallery", help="administer the gallery from YAML").add_subparsers(
        dest="gallery_command", required=True, metavar="ACTION")
    plan = add_command(group, "plan", "show what `apply` would change", _plan)
    apply = add_command(group, "apply", "enroll, update and disable people as the file says, in one transaction", _apply)
    for parser in (plan, apply):
        parser.add_argument("file", type=Path, help="gallery YAML (see config/gallery.example.yaml)")
        parser.add_argument("--prune", action="store_true", help="also hard-delete people missing from the file")
    apply.add_argument("--no-progress", action="store_true", help="no progress bar")
    listing = add_command(group, "list", "people in the store", _list)
    show = add_command(group, "show", "one person, with consent records and template count", _show)
    show.add_argument("person_id")
    remove = add_command(group, "remove", "hard-delete a person: templates, consent; events pseudonymised", _remove)
    remove.add_argument("person_id")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    export = add_command(group, "export", "people and metadata as YAML (never templates)", _export)
    code = add_command(group, "code", "a signed access code for a code_and_face door, as a QR image to print or send",
                       _code)
    code.add_argument("person_id")
    code.add_argument("--days", type=int, default=30, help="valid for this many days (default 30)")
    code.add_argument("--out", type=Path, required=True, help="PNG file for the QR code")
    pin = add_command(group, "pin", "set a person's PIN for a pin_and_face door (asked for twice, never an argument)",
                      _pin)
    pin.add_argument("person_id")
    pin.add_argument("--clear", action="store_true", help="remove the person's PIN")
    for parser in (plan, apply, listing, show, remove, export, code, pin):
        add_config_option(parser)


def _configured_descriptor(config: KioskConfig) -> tuple[str, str]:
    """(descriptor id, protector id) the kiosk's templates must come from."""
    embedder = load_embedder_manifest(config.models.embedder)
    return embedder.id, load_protector_for(embedder, config.models.protector).id


def _changes(config: KioskConfig, file: Path, store, prune: bool, digest_key: bytes) -> list[Change]:
    gallery, stored = load_gallery_file(file), store.list_people()
    if prune and not gallery.people and stored:
        # an empty, truncated or wrongly saved file is far likelier than a wish to delete everybody
        raise ConfigError(f"{file}: the gallery file lists nobody; with --prune that would delete all {len(stored)} "
                          f"people. Nothing was changed. Check the file (gallery export writes the current one); "
                          f"to delete people, use gallery remove")
    return plan_changes(gallery, stored, {d.name for d in config.doors}, prune, digest_key, store.template_origins(),
                        _configured_descriptor(config))


def _describe(changes: list[Change], prune: bool) -> str:
    lines = []
    for change in changes:
        if change.action == "unchanged":
            continue
        note = "" if change.action != "remove" or prune else " (only with --prune)"
        lines.append(f"  {SYMBOLS[change.action]} {change.action:<9} {change.person_id}{note}"
                     + (f": {'; '.join(change.details)}" if change.details else ""))
    counts = {a: sum(c.action == a for c in changes) for a in SYMBOLS}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    return "\n".join(lines + [f"plan: {summary or 'nothing to do'}"])


def _plan(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    with open_gallery(config) as (store, secrets):
        changes = _changes(config, args.file, store, args.prune, secrets.digest_key)
    data = {"changes": [{"action": c.action, "person": c.person_id, "details": c.details} for c in changes]}
    return data, _describe(changes, args.prune)


def _apply(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.enrollment import EnrollmentPolicy
    from kiosk.gallery.apply import apply_changes
    from kiosk.recognition.pipeline import FacePipeline

    config = load_config(args.config)
    with open_gallery(config) as (store, secrets), FacePipeline.from_config(config) as pipeline:
        changes = _changes(config, args.file, store, args.prune, secrets.digest_key)
        protector = protector_for(secrets, pipeline.manifest, config.models.protector, config.models.provider)
        policy = EnrollmentPolicy.from_config(config, protector)
        report = apply_changes(changes, store, pipeline, protector, policy,
                               args.prune, progress=not args.no_progress and not args.json)
    data = {"applied": dict(report.applied), "rejected_people": report.rejected_people,
            "rejected_photos": report.rejected_photos, "review": report.review, "few_photos": report.few_photos,
            "photos": report.photos,
            "photos_per_second": round(report.photos_per_second, 1), "exit_code": 1 if report.rejected_people else 0}
    lines = [f"applied: {', '.join(f'{n} {a}' for a, n in report.applied.items()) or 'nothing'}",
             f"enrolled from {report.photos} photos at {report.photos_per_second:.1f} photos/s"]
    lines += [f"  rejected photo {path}: {reason}" for path, reason in report.rejected_photos.items()]
    lines += [f"  NOT enrolled {pid}: {reason}" for pid, reason in report.rejected_people.items()]
    lines += [f"  review {pid}: {note}" for pid, note in report.review.items()]
    lines += [f"  add photos {pid}: {note}" for pid, note in report.few_photos.items()]
    return data, "\n".join(lines)


def _list(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    with open_gallery(config) as (store, _):
        people, counts, origins = store.list_people(), store.template_counts(), store.template_origins()
    rows = [{"id": p.id, "name": p.display_name, "role": p.role, "enabled": p.enabled,
             "valid_until": p.valid_until.isoformat() if p.valid_until else None, "templates": counts.get(p.id, 0),
             "descriptor": origins.get(p.id, ("-", "-"))[0]}
            for p in people]
    lines = [f"  {r['id']:<16} {r['name']:<28} {r['role']:<10} {'enabled' if r['enabled'] else 'disabled':<9} "
             f"{r['templates']} templates ({r['descriptor']})" for r in rows]
    return {"people": rows}, "\n".join(lines + [f"{len(rows)} people"])


def _show(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    with open_gallery(config) as (store, _):
        person = store.get_person(args.person_id)
        if person is None:
            raise FacegateError(f"no person {args.person_id!r} in {store.path}")
        consents, templates = store.consents(person.id), store.template_counts().get(person.id, 0)
    data = {"id": person.id, "name": person.display_name, "role": person.role, "enabled": person.enabled,
            "valid_from": str(person.valid_from or ""), "valid_until": str(person.valid_until or ""),
            "doors": list(person.doors), "card": person.card or "", "templates": templates,
            "consents": [{"given_by": c.given_by, "date": c.given_at.isoformat(), "scope": c.scope} for c in consents]}
    text = "\n".join(f"{key:<12} {value}" for key, value in data.items())
    return data, text


def _remove(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    if not args.yes:
        answer = input(f"Hard-delete {args.person_id}: templates and consent records, events pseudonymised. "
                       f"Type the id to confirm: ")
        if answer.strip() != args.person_id:
            return {"removed": False, "exit_code": 1}, "not removed"
    with open_gallery(config) as (store, _):
        removed = store.hard_delete(args.person_id, reason="removed by administrator")
    if not removed:
        raise FacegateError(f"no person {args.person_id!r} in {store.path}")
    if not removed.scrubbed:
        return ({"removed": True, "scrubbed": False},
                f"{args.person_id}: deleted; another process was reading the store, so the write-ahead log keeps "
                f"the old pages (encrypted) until that process stops; the next facegate command then empties it")
    if is_site(config):
        return ({"removed": True, "scrubbed": True},
                f"{args.person_id}: deleted at the site; every kiosk removes them at its next sync (at once while "
                f"connected)")
    return {"removed": True, "scrubbed": True}, f"{args.person_id}: deleted; freed pages scrubbed"


def _export(args: argparse.Namespace) -> tuple[dict, str]:
    import yaml

    config = load_config(args.config)
    with open_gallery(config) as (store, _):
        people = [{"id": p.id, "name": p.display_name, "role": p.role, "enabled": p.enabled,
                   "valid_from": p.valid_from, "valid_until": p.valid_until, "doors": list(p.doors),
                   **({"card": p.card} if p.card else {}),
                   "consent": [{"given_by": c.given_by, "date": c.given_at, "scope": c.scope}
                               for c in store.consents(p.id)]}
                  for p in store.list_people()]
    data = json.loads(json.dumps({"people": people}, default=str))
    return data, yaml.safe_dump({"people": people}, sort_keys=False, allow_unicode=True).rstrip()


def _code(args: argparse.Namespace) -> tuple[dict, str]:
    """The code names the person; a door still checks that the face is theirs."""
    from datetime import datetime, timedelta, timezone

    import cv2

    from kiosk.panel.codes import code_image, code_key, issue_code

    if not 1 <= args.days <= 3660:
        raise ConfigError(f"--days {args.days}: a code is valid for 1 to 3660 days")
    config = load_config(args.config)
    with open_gallery(config) as (store, secrets):
        person = store.get_person(args.person_id)
        if person is None:
            raise FacegateError(f"no person {args.person_id!r} in {store.path}")
        expires = datetime.now(timezone.utc) + timedelta(days=args.days)
        code = issue_code(code_key(secrets.digest_key), person.id, expires)
        if not cv2.imwrite(str(args.out), code_image(code)):
            raise FacegateError(f"{args.out}: could not write the image (is the folder there, and is it a .png?)")
        with store.transaction():
            store.log_event("code_issued", person.id, expires=expires.isoformat(timespec="seconds"))
    return ({"person_id": person.id, "expires": expires.isoformat(timespec="seconds"), "file": str(args.out)},
            f"{person.display_name}: access code valid until {expires:%Y-%m-%d}, saved to {args.out}")


def _pin(args: argparse.Namespace) -> tuple[dict, str]:
    """The PIN is asked for twice, as the administrator PIN is; only its keyed digest is stored."""
    import getpass

    from kiosk.panel.pins import pin_digest, pin_key

    pin = None
    if not args.clear:
        try:
            pin = getpass.getpass(f"New PIN for {args.person_id} (4 to 8 digits): ")
            if getpass.getpass("Again: ") != pin:
                raise ConfigError("the two PINs differ; nothing was changed")
        except EOFError:  # no terminal and nothing piped in
            raise ConfigError("no PIN was typed (standard input ended); run gallery pin in a terminal") from None
    config = load_config(args.config)
    with open_gallery(config) as (store, secrets):
        digest = pin_digest(pin_key(secrets.digest_key), pin) if pin is not None else None
        with store.transaction():
            person = store.get_person(args.person_id)
            if person is None:
                raise FacegateError(f"no person {args.person_id!r} in {store.path}")
            store.set_person_pin(person.id, digest)
            store.log_event("pin_set" if digest else "pin_cleared", person.id)
    return ({"person_id": person.id, "pin_set": digest is not None},
            f"{person.display_name}: PIN {'set' if digest else 'removed'}")
