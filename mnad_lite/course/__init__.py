"""What the course notebooks share: cached data and runs (:mod:`.cache`), small tools
(:mod:`.tools`), loss plots (:mod:`.plots`) and the interactive pictures (:mod:`.widgets`).

Everything is re-exported here, so a notebook writes ``from mnad_lite.course import ...``.
Nothing below the course layer imports it.
"""

from mnad_lite.course.cache import (
    COURSE_OVERRIDES,
    COURSE_RUNTIME,
    cache_dir,
    cached_report,
    cached_run,
    cached_runs,
    course_config,
    course_data,
    read_jsonl,
    run_key,
    start_course,
)
from mnad_lite.course.plots import TERMS, LiveLosses, plot_losses
from mnad_lite.course.tools import (
    TRACED,
    box_contrast,
    committed_model,
    course_time,
    evaluate_natively,
    find_ped2,
    frame_maps,
    kind_frame,
    markdown_table,
    scale_box,
    study_file,
    trace_shapes,
    training_speed,
)
from mnad_lite.research.published import PUBLISHED_PED2

__all__ = [
    "COURSE_OVERRIDES",
    "COURSE_RUNTIME",
    "PUBLISHED_PED2",
    "TERMS",
    "TRACED",
    "LiveLosses",
    "box_contrast",
    "cache_dir",
    "cached_report",
    "cached_run",
    "cached_runs",
    "committed_model",
    "evaluate_natively",
    "course_config",
    "course_time",
    "course_data",
    "find_ped2",
    "frame_maps",
    "kind_frame",
    "markdown_table",
    "plot_losses",
    "read_jsonl",
    "run_key",
    "scale_box",
    "start_course",
    "study_file",
    "trace_shapes",
    "training_speed",
]
