"""Build a door's outputs from its configuration."""

import os
from collections.abc import Callable

from kiosk.config import DoorConfig
from kiosk.runtime.doors import (
    DoorOutput,
    GpioOutput,
    LogOutput,
    MqttOutput,
    SerialRelayOutput,
    WebhookOutput,
    hmac_secret_from_env,
    secret_key_from_env,
)


def build_outputs(door: DoorConfig, on_panel: Callable[[str, str], None] = lambda kind, detail: None,
                  on_signal: Callable[[str], None] = lambda words: None) -> list[DoorOutput]:
    """`on_panel(kind, detail)`: a panel's link came up, was lost, came back (audited); `on_signal`: what
    the panel asks the reader to show (the screen shows it)."""
    outputs: list[DoorOutput] = []
    for spec in door.outputs:
        if spec.type == "log":
            outputs.append(LogOutput())
        elif spec.type == "webhook":
            outputs.append(WebhookOutput(spec.url, spec.timeout_s, spec.retries,
                                         hmac_secret=hmac_secret_from_env(spec.hmac_secret_env)))
        elif spec.type == "mqtt":
            password = os.environ.get(spec.password_env) if spec.password_env else None
            outputs.append(MqttOutput(spec.host, spec.port, spec.topic_prefix, door.name, spec.discovery,
                                      spec.username, password))
        elif spec.type == "serial":
            outputs.append(SerialRelayOutput(spec.port, spec.baudrate, bytes.fromhex(spec.open_command),
                                             bytes.fromhex(spec.close_command), door.pulse_s))
        elif spec.type == "gpio":
            outputs.append(GpioOutput(spec.pin, spec.active_high, door.pulse_s))
        elif spec.type == "osdp":
            from kiosk.panel.osdp import OsdpReader

            outputs.append(OsdpReader(spec.port, spec.baudrate, spec.address, secret_key_from_env(spec.scbk_env),
                                      lambda signal: on_signal(signal.describe()), on_panel))
        elif spec.type == "wiegand":
            from kiosk.panel.wiegand import WiegandOutput

            outputs.append(WiegandOutput(spec.data0_pin, spec.data1_pin, spec.pulse_us, spec.interval_ms))
    return outputs
