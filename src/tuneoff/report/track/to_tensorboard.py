"""TensorBoard: one log folder per job, RUN_DIR/tensorboard/<player>/<seed-N> (``tensorboard --logdir``).

Written with the ``tensorboard`` package's own event writer and protos (no TensorFlow, no torch):
scalars at their optimizer step (training loss, learning rate and gradient norm where recorded, each
epoch's metrics at the step that ended it, final test metrics at the last step), the params and tags
as text, the confusion matrix as an image and as a text table, and the params with the final
metrics in the HParams dashboard (one session per job). A job's event files are removed before it
is written, so exporting twice leaves one run. ``--uri`` is another root folder for the job folders.
Live logging (``run --track tensorboard``) writes the same folder while the job trains; the export
at its end rewrites it whole.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tuneoff.report.track.base import TRACKERS, Live, Tracker
from tuneoff.store.runfolder import RunFolder
from tuneoff.store.status import Status

EVENTS = "events.out.tfevents.*"


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    return width, height


@TRACKERS.register
class TensorBoard(Tracker):
    name: str = "tensorboard"
    module = "tensorboard"

    def folder(self, run: RunFolder, job) -> Path:
        return Path(self.uri) / job.player / job.label if self.uri else run.tensorboard_dir(job.player, job.label)

    def export(self, run: RunFolder, jobs: list, tournament) -> None:
        for job in jobs:
            writer = Events(self.folder(run, job))
            try:
                write(writer, job)
            finally:
                writer.close()

    def live(self, run: RunFolder, job) -> Live:
        return TensorBoardLive(Events(self.folder(run, job)))


class Events:
    """One job's event file, written from scratch (the folder's earlier event files removed first)."""

    def __init__(self, folder: Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        for old in folder.glob(EVENTS):
            old.unlink()
        self.writer = EventFileWriter(str(folder))

    def add(self, step: int, summary) -> None:
        from tensorboard.compat.proto import event_pb2

        self.writer.add_event(event_pb2.Event(step=step, summary=summary))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        from tensorboard.compat.proto import summary_pb2

        self.add(
            step,
            summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=tag, simple_value=v) for tag, v in values.items()]
            ),
        )

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def write(events: Events, job) -> None:
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.text.summary_v2 import text_pb

    series = [(step, tag, v) for s in (job.steps, job.epochs) for tag, points in s.items() for step, v in points]
    last = max((step for step, _, _ in series), default=0)
    for step, tag, value in series:
        events.scalars(step, {tag: value})
    events.scalars(last, job.final)
    table = "\n".join(f"| {k} | {v} |" for k, v in {**job.tags, **job.params}.items())
    events.add(0, text_pb("params", f"| key | value |\n|---|---|\n{table}"))
    for file, png in job.figures.items():
        width, height = _png_size(png)
        image = summary_pb2.Summary.Image(encoded_image_string=png, width=width, height=height, colorspace=4)
        events.add(last, summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=Path(file).stem, image=image)]))
    if job.confusion is not None:
        events.add(last, text_pb("confusion_matrix", confusion_text(job.confusion, job.labels)))
    for summary in hparams(job):
        events.add(0, summary)


def confusion_text(matrix: list[list[int]], labels: tuple[str, ...]) -> str:
    """The confusion matrix as a Markdown table (rows: true labels, columns: predicted)."""
    names = list(labels) or [str(i) for i in range(len(matrix))]
    head = "| true \\ predicted | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names)
    return head + "".join(f"\n| {n} | " + " | ".join(map(str, row)) + " |" for n, row in zip(names, matrix))


def hparams(job) -> list:
    """The HParams dashboard's three records for this job as one session: the experiment (which params and
    metrics there are), the session's param values, and how it ended."""
    from google.protobuf import struct_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    values = {k: v for k, v in job.params.items() if v is not None}

    def record(tag: str, **data) -> summary_pb2.Summary:
        content = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(**data))
        return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=content)])

    def value(v) -> struct_pb2.Value:
        if isinstance(v, bool):
            return struct_pb2.Value(bool_value=v)
        return struct_pb2.Value(number_value=v) if isinstance(v, (int, float)) else struct_pb2.Value(string_value=v)

    kinds = {bool: api_pb2.DATA_TYPE_BOOL, str: api_pb2.DATA_TYPE_STRING}
    experiment = api_pb2.Experiment(
        hparam_infos=[
            api_pb2.HParamInfo(name=k, type=kinds.get(type(v), api_pb2.DATA_TYPE_FLOAT64)) for k, v in values.items()
        ],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in job.final],
    )
    start = plugin_data_pb2.SessionStartInfo(group_name=job.player, start_time_secs=job.started or 0.0)
    for k, v in values.items():
        start.hparams[k].CopyFrom(value(v))
    status = api_pb2.STATUS_SUCCESS if job.status == Status.COMPLETED else api_pb2.STATUS_FAILURE
    end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=job.finished or 0.0)
    return [
        record(metadata.EXPERIMENT_TAG, experiment=experiment),
        record(metadata.SESSION_START_INFO_TAG, session_start_info=start),
        record(metadata.SESSION_END_INFO_TAG, session_end_info=end),
    ]


class TensorBoardLive(Live):
    """A job's scalars while it trains, in the folder its export rewrites when it ends."""

    def __init__(self, events: Events):
        self.events = events

    def log(self, record: dict) -> None:
        self.events.scalars(int(record["step"]), {k: v for k, v in record.items() if k != "step"})

    def close(self, status: str) -> None:
        self.events.close()
