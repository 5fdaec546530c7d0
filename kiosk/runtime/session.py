"""One way to assemble a kiosk: store, models, protector, door outputs, runner and camera, opened in
order inside one context manager and closed in reverse, whatever step fails.

`python main.py run`, the GUI's engine worker and the benchmark all use it, so a setup failure (a
missing model, an unreachable MQTT broker, a wrong key) is raised as the same clear error wherever
the kiosk starts, and nothing opened before it is left open.
"""

import contextlib
import logging
import queue
from collections.abc import Callable, Iterator
from pathlib import Path

from kiosk.config import DoorConfig, KioskConfig, OsdpReaderConfig, WiegandReaderConfig
from kiosk.errors import ConfigError, StoreDamagedError
from kiosk.panel.cards import Card
from kiosk.protection import protector_for
from kiosk.recognition.pipeline import FacePipeline
from kiosk.runtime.capture import CaptureThread, SourceEvent
from kiosk.runtime.decisions import Decision, in_standing
from kiosk.runtime.door_factory import build_outputs
from kiosk.runtime.doors import DoorDispatcher
from kiosk.runtime.kiosk import KioskRunner
from kiosk.sources import STREAM_SCHEMES, open_source
from kiosk.store.access import open_store

log = logging.getLogger(__name__)


class EventInbox:
    """Events from the camera, door and panel threads, audited later by the worker that owns the store;
    listeners (the kiosk screen) hear each one as it comes, and what is only to be shown (`tell`)."""

    def __init__(self) -> None:
        self._events: queue.Queue[SourceEvent] = queue.Queue()
        self._listeners: list[Callable[[SourceEvent], None]] = []

    def listen(self, listener: Callable[[SourceEvent], None]) -> None:
        self._listeners.append(listener)

    def put(self, event: SourceEvent) -> None:
        self._events.put(event)
        self.tell(event)

    def tell(self, event: SourceEvent) -> None:
        """Shown, logged, not audited (a panel's LED and beeper commands come several times a visit)."""
        for listener in self._listeners:
            listener(event)

    def panel_link(self, kind: str, detail: str) -> None:
        self.put(SourceEvent(kind, detail))

    def panel_signal(self, words: str) -> None:
        log.info("panel: %s", words)
        self.tell(SourceEvent("panel_signal", words))

    def door_failed(self, decision: Decision, output: str, error: str) -> None:
        self.put(SourceEvent("door_output_failed", f"{output}: {error}"))

    def drain(self) -> Iterator[SourceEvent]:
        while True:
            try:
                yield self._events.get_nowait()
            except queue.Empty:
                return


def choose_door(config: KioskConfig, name: str | None, config_path: Path | None = None) -> DoorConfig:
    doors = {door.name: door for door in config.doors}
    if name and name not in doors:
        raise ConfigError(f"door {name}: not in {config_path or 'the config'} (doors: {', '.join(doors)})")
    return doors[name] if name else config.doors[0]


def is_live(source: str) -> bool:
    """A camera or a stream (frames come whether or not the kiosk keeps up), not a recorded file."""
    return source.isdigit() or source.startswith(STREAM_SCHEMES)


def open_card_reader(config: "WiegandReaderConfig | OsdpReaderConfig", on_card: Callable[[Card], None]):
    """The door's own card reader, which hands each card read to `on_card` (its own thread)."""
    if config.type == "osdp":
        from kiosk.panel.osdp import OsdpCardReader
        from kiosk.runtime.doors import secret_key_from_env

        return OsdpCardReader(config.port, config.baudrate, config.address, secret_key_from_env(config.scbk_env),
                              on_card)
    from kiosk.panel.wiegand import WiegandReader

    return WiegandReader(config.data0_pin, config.data1_pin, on_card)


class KioskSession:
    """`with KioskSession(config) as session:` gives `session.runner`; `session.capture(source)`
    opens the camera. Every resource is closed on leaving, in reverse order."""

    def __init__(self, config: KioskConfig, door: DoorConfig | None = None, config_text: str | None = None):
        self.config = config
        self.door = door or config.doors[0]
        self.config_text = config_text
        self.inbox = EventInbox()
        self._stack = contextlib.ExitStack()
        self._runner: KioskRunner | None = None

    @property
    def runner(self) -> KioskRunner:
        if self._runner is None:
            raise RuntimeError("the kiosk session is not open: use it in a `with` block")
        return self._runner

    def __enter__(self) -> "KioskSession":
        config, stack = self.config, self._stack
        try:
            store, secrets = open_store(config.store.resolved_path, config.store.keys)
            stack.callback(store.close)
            damage = store.page_damage()
            if damage is not None:
                raise StoreDamagedError(f"{store.path}: the store is damaged ({damage}); the kiosk does not decide on "
                                        f"it: `python main.py store verify` lists what, and it must be restored from "
                                        f"a backup")
            standing: Callable[[], str | None] = in_standing
            if config.site.server is not None:  # the replica follows the site; records go up to it
                from kiosk.site.link import SiteLink

                link = SiteLink(config.site.server, config.store.resolved_path, secrets, self.door.name)
                stack.callback(link.close)
                standing = link.offline_problem
            pipeline = stack.enter_context(FacePipeline.from_config(config, video=True))
            protector = protector_for(secrets, pipeline.manifest, config.models.protector, config.models.provider)
            dispatcher = DoorDispatcher(build_outputs(self.door, self.inbox.panel_link, self.inbox.panel_signal),
                                        self.inbox.door_failed)
            stack.callback(dispatcher.close)
            self._runner = KioskRunner(config, store, pipeline, protector, dispatcher, self.door, self.inbox,
                                       standing, claim_key=secrets.digest_key)
            if self.door.card_reader is not None:  # card_and_face: the card reader wired to this kiosk
                stack.callback(open_card_reader(self.door.card_reader, self.runner.present_card).close)
            if self.config_text is not None:
                self.runner.audit_config(self.config_text)
        except BaseException:
            stack.close()
            raise
        return self

    def capture(self, source: str, *, realtime: bool = False,
                also: Callable[[SourceEvent], None] | None = None) -> CaptureThread:
        """The camera, stream or file, read on its own thread; stopped first when the session ends.
        A recorded file is paced to the kiosk (no frame dropped) unless `realtime` plays it at its
        own speed, as a camera would deliver it. Camera events are audited, and told to `also`."""
        live = is_live(source)

        def on_event(event: SourceEvent) -> None:
            self.inbox.put(event)
            if also is not None:
                also(event)
        capture = CaptureThread(lambda: open_source(source), live=live, on_event=on_event,
                                pace=not live and not realtime, realtime=not live and realtime).start()
        self._stack.callback(capture.stop)
        return capture

    def __exit__(self, *exc_info) -> None:
        self._stack.close()
