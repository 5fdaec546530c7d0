"""`store init | rekey | verify | purge`: create, re-encrypt, check and age the encrypted store."""

import argparse
from dataclasses import replace
from datetime import date

from kiosk.commands import add_command
from kiosk.commands.config_check import add_config_option
from kiosk.config import load_config
from kiosk.errors import SecretsError, StoreError
from kiosk.protection import protector_for
from kiosk.store.access import open_store
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KioskSecrets, load_secrets, save_secrets, with_new_database_key


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
        add_config_option(add_command(group, name, text, handler))


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
        save_secrets(keys, secrets)
        created_keys = True
    with GalleryStore.open(path, secrets, create=True) as store:
        with store.transaction():
            store.log_event("store_created")
    where = keys.file.expanduser() if keys.source == "file" else keys.source
    return ({"store": str(path), "keys_created": created_keys, "key_source": keys.source},
            f"created {path}; secrets {'created in' if created_keys else 'read from'} {where}")


def _rekey(args: argparse.Namespace) -> tuple[dict, str]:
    """Save old+new key first, re-encrypt, then drop the old key: an interruption loses nothing."""
    config = load_config(args.config)
    keys = config.store.keys
    current = load_secrets(keys)
    with GalleryStore.open(config.store.resolved_path, current) as store:
        pending = with_new_database_key(current)
        save_secrets(keys, pending)
        store.rekey(pending.database_key)
        with store.transaction():
            store.log_event("store_rekeyed")
    save_secrets(keys, replace(pending, previous_database_key=None))
    return ({"store": str(config.store.resolved_path), "rekeyed": True},
            f"{config.store.resolved_path}: re-encrypted under a new key")


def _verify(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        problems = store.verify()
        people = len(store.list_people())
        templates = sum(store.template_counts().values())
    data = {"store": str(store.path), "ok": not problems, "problems": problems, "people": people,
            "templates": templates, "exit_code": 1 if problems else 0}
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
    pin = getpass.getpass("New administrator PIN (digits): ")
    if getpass.getpass("Again: ") != pin:
        raise StoreError("the two PINs differ; nothing was changed")
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        set_pin(store, pin)
    return {"pin_set": True}, "administrator PIN set"


def _rotate_secret(args: argparse.Namespace) -> tuple[dict, str]:
    """New template secret; templates renewed in one transaction (t_new = Q_new Q_old^T t_old).
    The new key set is written beside the old one first, so an interruption loses nothing."""
    import secrets as random_secrets

    from kiosk.manifest import load_embedder_manifest

    config = load_config(args.config)
    keys = config.store.keys
    if keys.source != "file":
        raise SecretsError("rotate-secret needs the key file source (it must write the new secret safely)")
    old = load_secrets(keys)
    new = replace(old, template_secret=random_secrets.token_bytes(32),
                  template_secret_version=old.template_secret_version + 1)
    pending = keys.model_copy(update={"file": keys.file.expanduser().with_suffix(".pending.json")})
    save_secrets(pending, new)
    embedder = load_embedder_manifest(config.models.embedder)
    old_protector = protector_for(old, embedder, config.models.protector, "cpu")
    new_protector = protector_for(new, embedder, config.models.protector, "cpu")
    with GalleryStore.open(config.store.resolved_path, old) as store:
        count = store.renew_templates(lambda block: old_protector.renew(block, new_protector), new)
    save_secrets(keys, new)
    pending.file.unlink()
    return ({"templates": count, "secret_version": new.template_secret_version},
            f"{count} templates renewed under template secret version {new.template_secret_version}")
