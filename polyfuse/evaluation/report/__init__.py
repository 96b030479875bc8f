"""The HTML report: matplotlib plots (``plots``, ``compare_plots``), page assembly (``html``) and
sections built from results (``sections``)."""

from polyfuse.evaluation.report.html import Plot, Section, Table, render_html, render_plot, write_report
from polyfuse.evaluation.report.sections import (
    EVALUATION_PLOTS,
    compare_sections,
    evaluation_sections,
    write_compare_report,
    write_evaluation_report,
)

__all__ = [
    "EVALUATION_PLOTS",
    "Plot",
    "Section",
    "Table",
    "compare_sections",
    "evaluation_sections",
    "render_html",
    "render_plot",
    "write_compare_report",
    "write_evaluation_report",
    "write_report",
]
