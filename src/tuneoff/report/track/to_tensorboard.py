"""TensorBoard: one log folder per job, RUN_DIR/tensorboard/<player>/<seed-N> (``tensorboard --logdir``).

Written with the ``tensorboard`` package's own event writer (no TensorFlow, no torch): scalars with
their steps (training loss by step, epoch metrics by epoch, final test metrics at step 0), the
params and tags as text, the confusion matrix as an image. A job's folder is emptied before it is
written, so exporting twice leaves one run. ``--uri`` is another root folder for the job folders.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from tuneoff.report.track.base import TRACKERS, Tracker
from tuneoff.store.runfolder import RunFolder


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    return width, height


@TRACKERS.register
class TensorBoard(Tracker):
    name: str = "tensorboard"
    module = "tensorboard"

    def folder(self, run: RunFolder, job) -> Path:
        return Path(self.uri) / job.player / job.label if self.uri else run.tensorboard_dir(job.player, job.label)

    def export(self, run: RunFolder, jobs: list) -> None:
        for job in jobs:
            self._write(self.folder(run, job), job)

    def _write(self, folder: Path, job) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.text.summary_v2 import text_pb
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        shutil.rmtree(folder, ignore_errors=True)
        writer = EventFileWriter(str(folder))

        def add(step: int, summary) -> None:
            writer.add_event(event_pb2.Event(step=step, summary=summary))

        scalars = [(step, tag, v) for series in (job.steps, job.epochs) for tag, points in series.items()
                   for step, v in points] + [(0, tag, v) for tag, v in job.final.items()]
        for step, tag, value in scalars:
            add(step, summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]))
        table = "\n".join(f"| {k} | {v} |" for k, v in {**job.tags, **job.params}.items())
        add(0, text_pb("params", f"| key | value |\n|---|---|\n{table}"))
        for file, png in job.figures.items():
            width, height = _png_size(png)
            image = summary_pb2.Summary.Image(encoded_image_string=png, width=width, height=height, colorspace=4)
            add(0, summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=Path(file).stem, image=image)]))
        writer.close()
