"""pandas without pyarrow in the service's processes: `service.py` imports this module first.

pandas 3 imports pyarrow whenever it is installed and backs text columns with it; the API and
runner workers use neither (`benchmarks/bench_api_memory.py`: API worker RSS 236 -> 176 MiB,
runner 441 -> 359 MiB). Imported before anything else imports pandas, this module imports pandas
with pyarrow hidden, then unhides it: text columns get Python storage, and `pd.read_parquet`
still imports pyarrow when a parquet file is read (the files source). In a process that already
imported pandas or pyarrow (tests, tools) it does nothing.
"""

from __future__ import annotations

import importlib
import sys


def import_pandas_without_pyarrow() -> bool:
    """Import pandas with pyarrow hidden; whether this call did (False: already imported)."""
    if "pandas" in sys.modules or "pyarrow" in sys.modules:
        return False
    sys.modules["pyarrow"] = None  # type: ignore[assignment]  # import pyarrow: ImportError
    try:
        importlib.import_module("pandas")
    finally:
        del sys.modules["pyarrow"]
    return True


import_pandas_without_pyarrow()
