"""`store init | rekey | verify | purge`: create, re-encrypt, check and age the encrypted store."""

import argparse
from dataclasses import replace
from datetime import date
from pathlib import Path

from kiosk.commands import add_command
from kiosk.commands.config_check import add_config_option
from kiosk.config import load_config
from kiosk.errors import ConfigError, SecretsError, StoreError
from kiosk.faults import crash_point
from kiosk.protection import protector_for
from kiosk.store.access import open_store
from kiosk.store.database import key_opens, store_holders
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KeySourceConfig, KioskSecrets, load_secrets, save_secrets, with_new_database_key


def register(subparsers) -> None:
    group = subparsers.add_parser("store", help="create and look after the encrypted store").add_subparsers(
        dest="store_command", required=True, metavar="ACTION")
    for name, text, handler in (
        ("init", "create a new store and its secrets (refuses to overwrite either)", _init),
        ("rekey", "re-encrypt the store under a new database key", _rekey),
        ("verify", "check page authentication, integrity and the schema", _verify),
        ("purge", "apply the retention limits of the config now", _purge),
        ("set-pin", "set the administrator PIN of the GUI (asked for, never an argument)", _set_pin),
        ("rotate-secret", "renew every template under a new template secret, without re-enrolling", _rotate_secret),
    ):
        parser = add_command(group, name, text, handler)
        add_config_option(parser)
        if name == "init":
            parser.add_argument("--template-secret-from", type=Path, default=None, metavar="KEY_FILE",
                                help="a door of a site: take the site's template secret from this key file "
                                     "(the database key is this kiosk's own)")


def _init(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    path, keys = config.store.resolved_path, config.store.keys
    if path.exists():
        raise StoreError(f"{path}: a store already exists; it was left untouched")
    try:
        secrets = load_secrets(keys)
        created_keys = False
    except SecretsError:
        if keys.source == "file" and keys.file.expanduser().exists():
            raise  # an unreadable or unsafe key file is reported, never replaced
        secrets = KioskSecrets.generate()
        if args.template_secret_from is not None:  # a door of a site: the site's template secret, its own key
            site = load_secrets(KeySourceConfig(source="file", file=args.template_secret_from))
            secrets = replace(secrets, template_secret=site.template_secret,
                              template_secret_version=site.template_secret_version,
                              photo_digest_key=site.photo_digest_key)
        save_secrets(keys, secrets)
        created_keys = True
    else:
        if args.template_secret_from is not None:
            raise SecretsError(f"{keys.file.expanduser() if keys.source == 'file' else keys.source}: this kiosk "
                               f"already has a key set; --template-secret-from only makes a new one")
    with GalleryStore.open(path, secrets, create=True) as store:
        with store.transaction():
            store.log_event("store_created")
    where = keys.file.expanduser() if keys.source == "file" else keys.source
    return ({"store": str(path), "keys_created": created_keys, "key_source": keys.source},
            f"created {path}; secrets {'created in' if created_keys else 'read from'} {where}")


def _rekey(args: argparse.Namespace) -> tuple[dict, str]:
    """A journal in the key file: the new key is saved beside the old one before the store changes,
    the key that really opens the store is found before anything is done, and a run after an
    interruption finishes that rekey instead of starting another. At no moment does the key file
    lack the key that opens the store."""
    config = load_config(args.config)
    keys, path = config.store.keys, config.store.resolved_path
    current = load_secrets(keys)
    if not path.exists():
        raise StoreError(f"{path}: no store here; create one with `python main.py store init`")
    if current.previous_database_key is not None and key_opens(path, current.database_key):
        save_secrets(keys, replace(current, previous_database_key=None))  # it was re-encrypted; only this was lost
        return ({"store": str(path), "rekeyed": True, "resumed": True},
                f"{path}: finished an interrupted rekey (the store was already under the new key)")
    if current.previous_database_key is not None:
        if not key_opens(path, current.previous_database_key):
            raise SecretsError(f"{path}: neither key in the key file opens the store; restore the key file from a backup")
        pending, resumed = current, True   # resume with the key already saved, never a third one
    else:
        if not key_opens(path, current.database_key):
            raise SecretsError(f"{path}: the key file's key does not open the store (wrong key file, or not a store)")
        pending, resumed = with_new_database_key(current), False
        save_secrets(keys, pending)
        crash_point("rekey:journal_written")
    assert pending.previous_database_key is not None
    with GalleryStore.open(path, replace(pending, database_key=pending.previous_database_key,
                                         previous_database_key=None)) as store:
        store.rekey(pending.database_key)
        crash_point("rekey:reencrypted")
        with store.transaction():
            store.log_event("store_rekeyed")
    save_secrets(keys, replace(pending, previous_database_key=None))
    return ({"store": str(path), "rekeyed": True, "resumed": resumed},
            f"{path}: re-encrypted under a new key" + (" (an interrupted rekey, resumed)" if resumed else ""))


def _verify(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        problems = store.verify()
        people = None if problems else len(store.list_people())  # a damaged file is not read further
        templates = None if problems else sum(store.template_counts().values())
    data = {"store": str(store.path), "ok": not problems, "problems": problems, "people": people,
            "templates": templates, "exit_code": 3 if problems else 0}
    text = (f"{store.path}: ok ({people} people, {templates} templates)" if not problems
            else "\n".join([f"{store.path}: {len(problems)} problems"] + [f"  {p}" for p in problems]))
    return data, text


def _purge(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        removed = store.apply_retention(config.retention.events_days, config.retention.expired_people_grace_days,
                                        date.today())
    return removed, f"removed {removed['events']} old events and {removed['people']} expired people"


def _set_pin(args: argparse.Namespace) -> tuple[dict, str]:
    import getpass

    from kiosk.admin_pin import set_pin

    config = load_config(args.config)
    try:
        pin = getpass.getpass("New administrator PIN (digits): ")
        if getpass.getpass("Again: ") != pin:
            raise StoreError("the two PINs differ; nothing was changed")
    except EOFError:  # no terminal and nothing piped in
        raise StoreError("no PIN was typed (standard input ended); run store set-pin in a terminal") from None
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        set_pin(store, pin)
    return {"pin_set": True}, "administrator PIN set"


def _rotate_secret(args: argparse.Namespace) -> tuple[dict, str]:
    """New template secret; templates renewed in one transaction (t_new = Q_new Q_old^T t_old).
    The new key set is written beside the old one first (`keys.pending.json`) and a run after an
    interruption reuses it: it never draws a second secret while templates may be under the first.
    Which secret the templates are under is read from the store before anything changes."""
    import secrets as random_secrets

    from kiosk.manifest import load_embedder_manifest

    config = load_config(args.config)
    keys, path = config.store.keys, config.store.resolved_path
    if keys.source != "file":
        raise SecretsError("rotate-secret needs the key file source (it must write the new secret safely)")
    if config.site.server is not None:
        raise ConfigError(f"{args.config}: this store follows a site, whose doors all share one template secret; "
                          f"renewing it here alone would leave this station unable to match the site's templates")
    holders = store_holders(path)
    if holders:  # a running kiosk would go on matching under the old secret: every member "unknown"
        raise StoreError(f"{path}: the store is in use ({'; '.join(holders)}); stop the kiosk and the GUI, then run "
                         f"this again (nothing was changed)")
    old = load_secrets(keys)
    pending = keys.model_copy(update={"file": keys.file.expanduser().with_suffix(".pending.json")})
    resumed = pending.file.exists()
    if resumed:
        new = load_secrets(pending)
        if new.template_secret == old.template_secret:  # the key file already holds it: only the cleanup was lost
            pending.file.unlink()
            return ({"templates": 0, "secret_version": new.template_secret_version, "resumed": True},
                    f"finished an interrupted rotation (template secret version {new.template_secret_version})")
    else:
        new = replace(old, template_secret=random_secrets.token_bytes(32),
                      template_secret_version=old.template_secret_version + 1, photo_digest_key=old.digest_key)
        save_secrets(pending, new)
        crash_point("rotate:journal_written")
    embedder = load_embedder_manifest(config.models.embedder)
    old_protector = protector_for(old, embedder, config.models.protector, "cpu")
    new_protector = protector_for(new, embedder, config.models.protector, "cpu")
    try:
        store, renewed_before = GalleryStore.open(path, old), False
    except SecretsError:  # renewed before the interruption (it raises, naming the problem, if under neither)
        store, renewed_before = GalleryStore.open(path, new), True
    with store:
        count = None if renewed_before else store.renew_templates(
            lambda block: old_protector.renew(block, new_protector), new)
    crash_point("rotate:renewed")
    save_secrets(keys, new)
    crash_point("rotate:key_file_written")
    pending.file.unlink()
    done = "already renewed before the interruption" if count is None else f"{count} templates renewed"
    return ({"templates": count or 0, "secret_version": new.template_secret_version, "resumed": resumed},
            f"{done} under template secret version {new.template_secret_version}"
            + (" (an interrupted rotation, resumed)" if resumed else ""))
