"""`signalscore report`: a static site for customer-success managers, built from the scoring output.

Pages: the portfolio (index.html), one page per account (accounts/<id>.html) and the lead queue (leads.html).
They open from disk, with no server and no network. See docs/report.md.
"""

from serving.report.build import Bands, write_report
from serving.report.data import ReportError
from serving.report_config import DEFAULT_PLAYBOOK, ReportConfig

__all__ = ["DEFAULT_PLAYBOOK", "Bands", "ReportConfig", "ReportError", "write_report"]
