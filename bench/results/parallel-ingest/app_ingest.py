"""The app's own processing path (Workbench.process, 8,000-character pieces under the model lock) on the default document."""
import sys, time
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3]))
from app.logic import Settings, Workbench
from core.documents import language_reference
wb = Workbench.load()
times = {}
def progress(name, fraction, message):
    times.setdefault(name, time.perf_counter())
t0 = time.perf_counter()
processed = wb.process(language_reference(), Settings(segment_len=128), progress)
for name, handle in processed.handles.items():
    print(name, round(handle.ingest_s, 1), "s")
