"""The kiosk's configuration (config/kiosk.yaml) as typed models that refuse unknown keys."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kiosk.manifest import EMBEDDER_MANIFEST
from kiosk.paths import PROJECT_ROOT
from kiosk.recognition.quality import QualityGates
from kiosk.store.keys import KeySourceConfig
from kiosk.yamlfile import load_yaml_model

DEFAULT_CONFIG = PROJECT_ROOT / "config" / "kiosk.yaml"

if TYPE_CHECKING:
    from kiosk.liveness.fusion import LivenessPolicy


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .inf or .nan is never a setting


class CameraConfig(_Section):
    source: str = Field("0", description="camera index, rtsp:// or http:// URL, video file, or image folder")

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data):
        if isinstance(data, dict) and {"width", "height"} & set(data):
            raise ValueError("camera.width and camera.height were never applied and are gone: remove them "
                             "(the camera's own frame size is used)")
        return data


class ModelsConfig(_Section):
    landmarker: str = Field("face_landmarker", description="manifest name in models/manifests")
    embedder: str = Field(EMBEDDER_MANIFEST, description="manifest name in models/manifests")
    protector: str | None = Field(None, description="template protector manifest in models/manifests; empty: the "
                                  "one trained for the embedder")
    provider: Literal["auto", "cpu", "cuda"] = Field("auto", description="ONNX Runtime provider; auto = CUDA where it loads")
    threads: int = Field(0, ge=0, le=64, description="ONNX Runtime threads; 0 = one per core")


class QualityConfig(_Section):
    """Gates a face must pass to be enrolled or matched; defaults live in kiosk.recognition.quality.QualityGates."""

    min_eye_distance_px: float = Field(QualityGates.min_eye_distance_px, gt=0,
                                       description="distance between the eye centres in the photo")
    min_sharpness: float = Field(QualityGates.min_sharpness, ge=0,
                                 description="Laplacian variance of the 150 px quality chip; LFW: 1% below 11, "
                                             "blur sigma 2.5 below 9")
    max_yaw_deg: float = Field(QualityGates.max_yaw_deg, gt=0, le=90)
    max_pitch_deg: float = Field(QualityGates.max_pitch_deg, gt=0, le=90)
    min_brightness: float = Field(QualityGates.min_brightness, ge=0, le=255)
    max_brightness: float = Field(QualityGates.max_brightness, ge=0, le=255)

    @model_validator(mode="after")
    def _brightness_range(self) -> "QualityConfig":
        if self.min_brightness >= self.max_brightness:
            raise ValueError("quality: min_brightness must be below max_brightness")
        return self

    def gates(self) -> QualityGates:
        return QualityGates(**self.model_dump())


class RecognitionConfig(_Section):
    """How a visit is recognised: its frames are fused into one probe (kiosk/runtime/visit.py)."""

    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data):
        if isinstance(data, dict) and {"votes_needed", "vote_window"} & set(data):
            raise ValueError("recognition.votes_needed and vote_window are gone: a visit now fuses its frames; "
                             "use recognition.min_frames (frames before a grant, default 2) and max_frames "
                             "(frames without a match before 'unknown', default 8)")
        return data

    max_faces: int = Field(2, ge=1, le=8, description="faces tracked per frame; the largest acts")
    threshold: float | None = Field(None, gt=0, le=2, description="distance threshold between a probe and a protected "
                                    "template; empty = set from the gallery size and false_accepts_per_day, never "
                                    "looser than the protector's calibrated one")
    false_accepts_per_day: float = Field(0.5, gt=0, le=100, description="expected false accepts a day the threshold allows; "
                                         "0.5 at 200 visits is a false positive identification rate of 0.25% per "
                                         "visit, inside NIST's operating point for access to a facility (0.3%)")
    attempts_per_day: int = Field(200, gt=0, le=1_000_000, description="visits a day, for the figure above")
    min_frames: int = Field(2, ge=1, le=30, description="frames of a visit fused before a grant")
    max_frames: int = Field(8, ge=1, le=60, description="frames fused without a match: the visitor is unknown")
    cooldown_s: float = Field(10.0, ge=0, le=3600, description="the same person is not decided again within this time")
    quality: QualityConfig = QualityConfig()


Action = Literal["turn_left", "turn_right", "look_up", "smile", "blink"]
DEPTH_ACTIONS: tuple[Action, ...] = ("turn_left", "turn_right", "look_up")  # judged in depth
DEFAULT_PROMPT_ACTIONS = DEPTH_ACTIONS  # a recording blinks anyway: a drawn blink proves nothing


class LivenessConfig(_Section):
    enabled: bool = Field(True, description="no grant without a live verdict; off only for tests with still photos")
    texture: bool = Field(True, description="the MiniFASNet texture cue (its models are built from the shared parameters)")
    texture_threshold: float = Field(0.95, gt=0, lt=1, description="least median live probability over the last frames")
    timeout_s: float = Field(6.0, gt=0, le=60, description="no live verdict by then: spoof suspected")
    prompt_after_s: float = Field(1.5, ge=0, le=30, description="no sign of life by then: the screen asks for one "
                                                                "action drawn from prompt_actions")
    prompt_actions: list[Action] = Field(
        default_factory=lambda: list(DEFAULT_PROMPT_ACTIONS), min_length=1,
        description="the actions the prompt is drawn from at random (smile did not carry over between the "
                    "development sets: prints of a smiling face 'smiled'; a replayed recording answers a drawn "
                    "blink, since every recording blinks)")
    depth_required: bool = Field(
        False, description="only a head turn or look seen in depth is a sign of life (a blink, a mouth or a smile "
                           "shows through a cut-out print's holes): every visitor who does not turn by themselves "
                           "is asked to, the prompt drawn from the turns and looks among prompt_actions")
    challenge: list[Action] = Field(
        default_factory=list, description="active steps, asked in a random order; empty: passive cues only")
    challenge_step_s: float = Field(4.0, gt=0, le=30, description="time allowed for each challenge step")

    @model_validator(mode="after")
    def _time_for_the_challenge(self) -> "LivenessConfig":
        steps = len(self.challenge)
        if steps and self.timeout_s < steps * self.challenge_step_s:
            raise ValueError(f"timeout_s ({self.timeout_s:g}) is shorter than the {steps} challenge steps of "
                             f"{self.challenge_step_s:g} s each; raise timeout_s to {steps * self.challenge_step_s:g}")
        return self

    @model_validator(mode="after")
    def _depth_can_be_asked_for(self) -> "LivenessConfig":
        if self.depth_required and not set(self.prompt_actions) & set(DEPTH_ACTIONS):
            raise ValueError(f"depth_required needs a turn or a look among prompt_actions "
                             f"({', '.join(self.prompt_actions)}): add one of {', '.join(DEPTH_ACTIONS)}")
        return self

    def policy(self) -> "LivenessPolicy":
        from kiosk.liveness.challenge import Step
        from kiosk.liveness.fusion import LivenessPolicy

        return LivenessPolicy(texture_threshold=self.texture_threshold, timeout_ms=int(self.timeout_s * 1000),
                              prompt_after_ms=int(self.prompt_after_s * 1000),
                              prompt_actions=tuple(Step(action) for action in self.prompt_actions
                                                   if not self.depth_required or action in DEPTH_ACTIONS),
                              depth_required=self.depth_required,
                              challenge=tuple(Step(step) for step in self.challenge),
                              challenge_step_ms=int(self.challenge_step_s * 1000))


class EnrollmentConfig(_Section):
    min_photos: int = Field(1, ge=1, description="good photos a person needs to be enrolled")
    max_photos: int = Field(10, ge=1, le=50, description="templates kept per person")
    recommended_photos: int = Field(3, ge=1, le=50, description="good photos the wizard and gallery apply ask for: "
                                    "on LFW three (nearest template) missed 2.2% of visits against 3.4% with one, "
                                    "strangers unchanged (eval identify)")
    duplicate_check: bool = Field(True, description="refuse a face that already belongs to another person")
    duplicate_fmr: float = Field(1e-6, gt=0, lt=1, description="false match rate of the duplicate check; "
                                 "strict, because every new face is compared with the whole gallery")
    review_fmr: float = Field(1e-5, gt=0, lt=1, description="closer than this to someone else: enrolled, "
                              "but flagged for an administrator to check")

    @model_validator(mode="after")
    def _photo_range(self) -> "EnrollmentConfig":
        if self.min_photos > self.max_photos:
            raise ValueError("enrollment: min_photos must not exceed max_photos")
        return self


class StoreConfig(_Section):
    path: Path = Field(Path("~/.local/share/facegate/gallery.db"), description="the encrypted SQLCipher file")
    keys: KeySourceConfig = KeySourceConfig()

    @property
    def resolved_path(self) -> Path:
        return self.path.expanduser()


class RetentionConfig(_Section):
    # bounded by what a date can be moved by (about 2.7 million days): 100 years is more than any law asks
    events_days: int | None = Field(365, ge=1, le=36_525, description="delete audit and attendance events older "
                                                                      "than this (at most 100 years)")
    expired_people_grace_days: int | None = Field(
        30, ge=0, le=36_525, description="hard-delete people this many days after their validity ended")


class LogOutputConfig(_Section):
    type: Literal["log"]


class WebhookOutputConfig(_Section):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="receives a JSON POST per decision")
    timeout_s: float = Field(2.0, gt=0, le=30)
    retries: int = Field(3, ge=0, le=10)
    hmac_secret_env: str | None = Field(None, description="environment variable holding the HMAC-SHA256 secret")


class MqttOutputConfig(_Section):
    type: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    topic_prefix: str = "facegate"
    discovery: bool = Field(True, description="announce the door to Home Assistant")
    username: str | None = None
    password_env: str | None = Field(None, description="environment variable holding the broker password")


class SerialOutputConfig(_Section):
    type: Literal["serial"]
    port: str = Field(description="e.g. /dev/ttyUSB0")
    baudrate: int = Field(9600, gt=0)
    open_command: str = Field("A00101A2", pattern=r"^([0-9A-Fa-f]{2})+$", description="hex bytes that close the relay")
    close_command: str = Field("A00100A1", pattern=r"^([0-9A-Fa-f]{2})+$", description="hex bytes that open it again")


class GpioOutputConfig(_Section):
    type: Literal["gpio"]
    pin: int = Field(ge=0, le=40)
    active_high: bool = True


class OsdpOutputConfig(_Section):
    """The kiosk as an OSDP reader on a panel's RS-485 line (docs/panel.md); secure channel only."""

    type: Literal["osdp"]
    port: str = Field(description="the RS-485 adapter, e.g. /dev/ttyUSB0")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = Field(9600, description="as set on the panel")
    address: int = Field(ge=0, le=126, description="this reader's OSDP address on the line, as set on the panel")
    scbk_env: str = Field(min_length=1, description="environment variable holding the secure channel base key "
                                                    "(32 hex digits), as entered on the panel")


class WiegandOutputConfig(_Section):
    """The kiosk as a Wiegand reader: the granted person's card on two GPIO lines (docs/panel.md)."""

    type: Literal["wiegand"]
    data0_pin: int | str = Field(description="GPIO of DATA0 (green wire), a number or a gpiozero name")
    data1_pin: int | str = Field(description="GPIO of DATA1 (white wire)")
    pulse_us: float = Field(100, ge=20, le=200, description="how long a bit pulls its line low")
    interval_ms: float = Field(2.0, ge=0.5, le=20, description="from one bit's pulse to the next")


OutputConfig = Annotated[
    LogOutputConfig | WebhookOutputConfig | MqttOutputConfig | SerialOutputConfig | GpioOutputConfig
    | OsdpOutputConfig | WiegandOutputConfig,
    Field(discriminator="type"),
]


class WiegandReaderConfig(_Section):
    """A Wiegand card reader on two of the kiosk's GPIO pins."""

    type: Literal["wiegand"] = "wiegand"
    data0_pin: int | str = Field(description="GPIO of the reader's DATA0")
    data1_pin: int | str = Field(description="GPIO of the reader's DATA1")


class OsdpReaderConfig(_Section):
    """An OSDP card reader on an RS-485 adapter of the kiosk, which is its control panel (secure channel only)."""

    type: Literal["osdp"]
    port: str = Field(description="the RS-485 adapter, e.g. /dev/ttyUSB1")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = Field(9600, description="as set on the reader")
    address: int = Field(0, ge=0, le=126, description="the reader's OSDP address")
    scbk_env: str = Field(min_length=1, description="environment variable holding the reader's secure channel key "
                                                    "(32 hex digits)")


class DoorConfig(_Section):
    name: str = Field(min_length=1, description="the door's name, as people's `doors` lists use it")
    outputs: list[OutputConfig] = Field(default_factory=lambda: [LogOutputConfig(type="log")])  # type: ignore[arg-type]
    pulse_s: float = Field(3.0, gt=0, le=60, description="how long a relay keeps the door unlocked")
    mode: Literal["identify", "card_and_face", "code_and_face", "pin_and_face"] = Field(
        "identify", description="identify: the face alone, matched 1:N; card_and_face: a card read by `card_reader`, "
                                "then the face matched 1:1 against that person; code_and_face: the same with a "
                                "person's signed code (QR) shown to the camera; pin_and_face: with a PIN typed on "
                                "the kiosk screen's keypad (the GUI)")
    claim_fmr: float = Field(1e-5, gt=0, lt=1e-2, description="false match rate of the 1:1 check after a claim")
    claim_window_s: float = Field(10.0, gt=0, le=120, description="how long a claim waits for its face")
    card_reader: WiegandReaderConfig | OsdpReaderConfig | None = Field(
        None, description="the card reader wired to this kiosk, for card_and_face: Wiegand on two GPIO pins, or OSDP")
    attendance: Literal["in", "out", "toggle", "none"] = Field(
        "toggle", description="what a grant here records: check-in, check-out, alternate per day, or nothing")

    @model_validator(mode="after")
    def _claim_source(self) -> "DoorConfig":
        if self.mode == "card_and_face" and self.card_reader is None:
            raise ValueError(f"door {self.name}: mode card_and_face needs a card_reader (its DATA0 and DATA1 pins)")
        return self


class AttendanceConfig(_Section):
    enabled: bool = True
    dedup_minutes: int = Field(5, ge=0, le=24 * 60, description="one record per person within this window")


class PostgresConfig(_Section):
    """Where the site's gallery and events are kept; the password comes from the site credentials."""

    host: str = Field("127.0.0.1", min_length=1, description="host name, address, or a socket folder")
    port: int = Field(5432, gt=0, lt=65536)
    dbname: str = Field("facegate", min_length=1)
    user: str = Field("facegate_kiosk", min_length=1, description="a kiosk's role only reads the gallery; "
                      "administrators and `site serve` use the role that owns the tables")
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    ssl_root_cert: Path | None = Field(None, description="the CA certificate that signed the server's, for sslmode "
                                       "verify-ca or verify-full; empty: libpq's default ~/.postgresql/root.crt")
    connect_timeout_s: int = Field(5, ge=1, le=60)


class BrokerConfig(_Section):
    """The MQTT broker (mosquitto) that carries every event up to the site."""

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, gt=0, lt=65536)
    topic_prefix: str = Field("facegate", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    username: str | None = Field(None, description="empty: the kiosk id (the broker's ACL lets a kiosk publish "
                                 "only under its own id)")
    tls_ca_file: Path | None = Field(None, description="CA certificate of a TLS listener; empty: plain TCP")


class SiteCredentialsConfig(KeySourceConfig):
    """Where the PostgreSQL and broker passwords are kept: the same kinds of source as the store's keys,
    a JSON object {"postgres_password": ..., "broker_password": ...}."""

    file: Path = Field(Path("~/.config/facegate/site.json"), description="credentials file (mode 0600) for source: file")
    env_var: str = Field("FACEGATE_SITE_KEYS", description="environment variable holding the credentials JSON")
    keyring_service: str = Field("facegate-site", description="OS keyring service name for source: keyring")


class SiteServerConfig(_Section):
    """A site with many doors: the gallery lives in PostgreSQL, each kiosk keeps an encrypted replica
    and sends its events through MQTT (docs/site.md)."""

    kiosk_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="this kiosk's name at the "
                                 "site (its broker user); empty on an administrator's machine")
    postgres: PostgresConfig = PostgresConfig()
    broker: BrokerConfig = BrokerConfig()
    credentials: SiteCredentialsConfig = SiteCredentialsConfig()
    sync_poll_s: float = Field(2.0, gt=0, le=300, description="how often the replica asks for changes when no "
                               "notification comes (a change is announced at once while connected)")
    sync_batch: int = Field(1000, ge=1, le=100_000, description="people written to the replica per local transaction")
    status_every_s: float = Field(5.0, gt=0, le=300, description="how often the kiosk reports its state to the site")
    max_offline_s: float | None = Field(None, gt=0, description="null: a door keeps deciding on its replica however "
                                        "long the site is out of reach; a number: past that many seconds without "
                                        "reaching the site it grants nobody (fail-secure) until it has pulled again")

    @model_validator(mode="after")
    def _offline_bound_above_poll(self) -> "SiteServerConfig":
        if self.max_offline_s is not None and self.max_offline_s <= 2 * self.sync_poll_s:
            raise ValueError(f"max_offline_s ({self.max_offline_s:g}) must exceed twice sync_poll_s "
                             f"({self.sync_poll_s:g}): a door in step would otherwise count as out of reach")
        return self


class SiteConfig(_Section):
    timezone: str | None = Field(None, description="IANA time zone (Europe/Berlin) of schedules, validity dates and "
                                 "attendance days; empty: this machine's own zone")
    server: SiteServerConfig | None = Field(None, description="empty: a kiosk on its own, its gallery in its store")

    @model_validator(mode="after")
    def _known_zone(self) -> "SiteConfig":
        from kiosk.clock import site_zone

        site_zone(self.timezone)
        if self.server is not None and self.timezone is None:
            # each machine's own zone made one visit granted at a door set to UTC and refused at one in Tokyo
            raise ValueError("timezone: the doors of a site judge schedules and attendance days in one zone; "
                             "name it (for example timezone: Europe/Berlin)")
        return self

    @property
    def zone(self):
        from kiosk.clock import site_zone

        return site_zone(self.timezone)


class GuiConfig(_Section):
    fullscreen: bool = True
    language: str = Field("en", min_length=2, max_length=5)


class KioskConfig(_Section):
    camera: CameraConfig = CameraConfig()
    models: ModelsConfig = ModelsConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    liveness: LivenessConfig = LivenessConfig()
    enrollment: EnrollmentConfig = EnrollmentConfig()
    store: StoreConfig = StoreConfig()
    retention: RetentionConfig = RetentionConfig()
    doors: list[DoorConfig] = Field(default_factory=lambda: [DoorConfig(name="main")], min_length=1,
                                    description="the first door is the one this kiosk drives")
    attendance: AttendanceConfig = AttendanceConfig()
    site: SiteConfig = SiteConfig()
    gui: GuiConfig = GuiConfig()

    @model_validator(mode="after")
    def _evidence(self) -> "KioskConfig":
        if self.recognition.min_frames > self.recognition.max_frames:
            raise ValueError("recognition: min_frames must not exceed max_frames")
        return self

    @model_validator(mode="after")
    def _unique_doors(self) -> "KioskConfig":
        names = [door.name for door in self.doors]
        if len(names) != len(set(names)):
            raise ValueError(f"doors: names must be unique, got {names}")
        return self


def load_config(path: Path = DEFAULT_CONFIG) -> KioskConfig:
    return load_yaml_model(path, KioskConfig)
