"""How long a widget takes to answer a slider move in the page, measured in the page itself.

Shared by the real-browser test (a loose bound) and ``benchmarks/browser_latency.py`` (the numbers).

A move is a keydown on the slider's handle (noUiSlider's own keyboard path: one step), dispatched from
JavaScript so the clock starts at the input event. For bqplot panels (SVG in the page) the answer is the
first change of any figure's SVG (a MutationObserver), plus two animation frames, by which time the browser
has painted it; for an ipympl figure (a canvas) it is the first animation frame whose pixels differ. A move
with no answer within ``timeout_ms`` counts as -1 (reported, never hidden).
"""

from __future__ import annotations

import statistics

# Watch a cell's figures and call onChange(time) whenever what the page shows changes; returns a stop
# function. "svg": a bqplot figure's SVG changed (MutationObserver) and two animation frames passed (it is
# painted); "canvas": an ipympl canvas' pixels differ from the previous animation frame (a sampled hash).
_WATCH = """const watch = (cell, mode, onChange) => {
  if (mode === 'svg') {
    const obs = new MutationObserver(() => {
      const t = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => onChange(t, performance.now())));
    });
    for (const f of cell.querySelectorAll('.bqplot'))
      obs.observe(f, {subtree: true, attributes: true, childList: true, characterData: true});
    return () => obs.disconnect();
  }
  const canvas = cell.querySelector('.jupyter-matplotlib-canvas-div canvas');
  const ctx = canvas.getContext('2d');
  const hash = () => {
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4 * 7) h = (h * 31 + d[i] + 3 * d[i + 1] + 7 * d[i + 2]) | 0;
    return h;
  };
  let last = hash(), running = true;
  const tick = () => { if (!running) return; const h = hash();
                       if (h !== last) { last = h; const t = performance.now(); onChange(t, t); }
                       requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  return () => { running = false; };
};
const press = (handle, key) => handle.dispatchEvent(new KeyboardEvent('keydown',
  {key: key, code: key, keyCode: key === 'ArrowRight' ? 39 : 37, bubbles: true}));
"""

# One move: resolves with milliseconds from the keydown to the shown change (or -1).
SINGLE_MOVE_JS = """async ([cellSel, handleSel, key, timeoutMs, mode]) => {
""" + _WATCH + """
  const cell = document.querySelector(cellSel);
  const handle = cell.querySelector(handleSel);
  const t0 = performance.now();
  return await new Promise((resolve) => {
    let done = false;
    const stop = watch(cell, mode, (_t, shown) => { if (!done) { done = true; stop(); resolve(shown - t0); } });
    press(handle, key);
    setTimeout(() => { if (!done) { done = true; stop(); resolve(-1); } }, timeoutMs);
  });
}"""

# A quick drag: n moves `gapMs` apart; returns the times of every change and of the last move, so the
# settle time (last change - last move) can be computed.
BURST_JS = """async ([cellSel, handleSel, key, n, gapMs, quietMs, mode]) => {
""" + _WATCH + """
  const cell = document.querySelector(cellSel);
  const handle = cell.querySelector(handleSel);
  const changes = [];
  const stop = watch(cell, mode, (_t, shown) => changes.push(shown));
  for (let i = 0; i < n; i++) {
    press(handle, key);
    await new Promise((r) => setTimeout(r, gapMs));
  }
  const tLast = performance.now() - gapMs;
  await new Promise((r) => setTimeout(r, quietMs));
  stop();
  return {tLast: tLast, changes: changes};
}"""


def single_moves(page, cell_selector: str, handle_selector: str, n: int, pause_s: float = 0.3,
                 timeout_ms: int = 5000, mode: str = "svg") -> list[float]:
    """``n`` one-step moves (right, then back left), each answered before the next; milliseconds each.
    ``mode``: "svg" for bqplot panels, "canvas" for an ipympl figure."""
    out = []
    for i in range(n):
        key = "ArrowRight" if i < n // 2 else "ArrowLeft"
        out.append(page.evaluate(SINGLE_MOVE_JS, [cell_selector, handle_selector, key, timeout_ms, mode]))
        page.wait_for_timeout(int(1000 * pause_s))
    return out


def burst(page, cell_selector: str, handle_selector: str, n: int = 20, gap_ms: int = 30, key: str = "ArrowRight",
          quiet_ms: int = 3000, mode: str = "svg") -> dict:
    """A quick drag of ``n`` moves; the settle time after the last move and how many pictures came."""
    r = page.evaluate(BURST_JS, [cell_selector, handle_selector, key, n, gap_ms, quiet_ms, mode])
    return drag_summary(r["changes"], r["tLast"], n, gap_ms)


def drag_summary(changes: list[float], t_last: float, n: int, gap_ms: int) -> dict:
    """Settle time after the last move, and how many pictures (animation frames of 1/60 s with a change)
    were shown while dragging."""
    during = [t for t in changes if t <= t_last]
    return {"moves": n, "gap_ms": gap_ms, "pictures_during_drag": len({int(t // (1000 / 60)) for t in during}),
            "settle_ms": (max(changes) - t_last) if changes else -1.0}


def summary(ms: list[float]) -> dict:
    """Median, p90 and max of the answered moves, and how many got no answer."""
    ok = sorted(v for v in ms if v >= 0)
    if not ok:
        return {"n": len(ms), "unanswered": len(ms)}
    return {"n": len(ms), "unanswered": len(ms) - len(ok), "median": statistics.median(ok),
            "p90": ok[min(len(ok) - 1, int(0.9 * len(ok)))], "max": ok[-1]}
