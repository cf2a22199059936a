"""What every benchmark writes: a text report (its header, the load average, its tables, provenance) and a JSON twin."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import dynamic_graphs as dg
from dynamic_graphs.utils import shown_path


def load_line(start: Sequence[float], end: Sequence[float]) -> str:
    """``load average: start 1.00 ..., end ...``: another process on the CPU slows every contender."""
    return (f"load average: start {' '.join(f'{x:.2f}' for x in start)}, "
            f"end {' '.join(f'{x:.2f}' for x in end)}")


def write_report(args: argparse.Namespace, header: str, sections: Sequence[str], rows: Any, *,
                 load: tuple[Sequence[float], Sequence[float]], **provenance: Any) -> None:
    """Print and write ``args.out`` (the report) and its ``.json`` (the parameters and ``rows``).

    The report is ``header``, the load average, the ``sections`` (tables as text) and the run's
    provenance (:func:`dynamic_graphs.reports.run_info` of the parameters, ``device="cpu"`` and ``provenance``).
    """
    info = dg.reports.run_info(**{key: value for key, value in vars(args).items() if key != "out"}, device="cpu",
                               **provenance)
    text = "\n".join([header, load_line(*load), "", *sections, info.to_string(), ""])
    print("\n" + text, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    parameters = {key: shown_path(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    args.out.with_suffix(".json").write_text(json.dumps({"parameters": parameters, "rows": rows}, indent=1,
                                                        default=str) + "\n")
    print(f"written: {shown_path(args.out)} and its .json")
