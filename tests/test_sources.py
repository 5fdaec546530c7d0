"""Frame sources: a real video made from LFW photos is read back and recognised in VIDEO mode."""

import cv2
import numpy as np
import pytest

from kiosk.errors import SourceError
from kiosk.imageio import read_image
from kiosk.recognition.matching import descriptor_distance
from kiosk.sources import ImageFilesSource, VideoCaptureSource, open_source
from tests.conftest import lfw_photo


@pytest.fixture(scope="module")
def visit_video(tmp_path_factory, lfw_dir):
    """Two people, 15 frames each at 15 fps, written with OpenCV's bundled FFmpeg (MJPG)."""
    path = tmp_path_factory.mktemp("video") / "visits.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (500, 500))
    for person in ("Colin_Powell", "Tony_Blair"):
        bgr = cv2.resize(cv2.imread(str(lfw_photo(lfw_dir, person, 1))), (500, 500))
        for _ in range(15):
            writer.write(bgr)
    writer.release()
    return path


def test_video_file_frames_carry_the_file_clock(visit_video):
    source = open_source(str(visit_video))
    assert isinstance(source, VideoCaptureSource)
    frames = list(source.frames())
    source.close()
    assert len(frames) == 30 and frames[0].rgb.shape == (500, 500, 3)
    assert [f.timestamp_ms for f in frames[:3]] == [0, 67, 133]


def test_faces_in_a_video_match_their_photos(models_built, visit_video, lfw_dir):
    from kiosk.recognition.pipeline import FacePipeline

    with FacePipeline.from_manifests(video=True, provider="cpu") as tracker:
        per_frame = [tracker.encode(frame.rgb, frame.timestamp_ms) for frame in open_source(str(visit_video)).frames()]
    assert all(len(faces) == 1 for faces in per_frame)
    with FacePipeline.from_manifests(provider="cpu") as photos:
        powell = photos.encode_one(read_image(lfw_photo(lfw_dir, "Colin_Powell", 2)), "Powell 2").template
        metric, threshold = photos.manifest.metric, photos.manifest.threshold.value
    distances = np.array([descriptor_distance(powell, faces[0].probe, metric) for faces in per_frame])
    assert distances[:15].max() < threshold < distances[15:].min()


def test_a_folder_of_photos_is_a_source_in_name_order(tmp_path, lfw_dir):
    for name in ("b.jpg", "a.jpg"):
        (tmp_path / name).symlink_to(lfw_photo(lfw_dir, "Tony_Blair", 1))
    (tmp_path / "readme.txt").write_text("not a frame")
    frames = list(open_source(str(tmp_path)).frames())
    assert [f.origin.rsplit("/", 1)[1] for f in frames] == ["a.jpg", "b.jpg"]


@pytest.mark.parametrize("spec, message", [
    ("/nonexistent/clip.mp4", "no such file, folder, camera index or stream URL"),
    ("rtsp://127.0.0.1:9/none", "cannot open stream"),
])
def test_sources_that_cannot_open_say_so(spec, message):
    with pytest.raises(SourceError, match=message):
        open_source(spec)


def test_an_unreadable_photo_in_a_source_names_the_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(SourceError, match="broken.jpg: the JPEG is truncated"):
        list(ImageFilesSource([broken]).frames())
