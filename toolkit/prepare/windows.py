"""Where the clips of a long recording go: windows of one fixed length that lie inside one
shot and start and end in pauses.

Per shot, the pauses are the gaps between speech spans (toolkit.voice.speech_segments),
kept ``PAUSE_MARGIN_S`` away from speech; a shot edge counts as a pause only when no speech
runs across it. A speech window starts in one pause and ends in a later one. Windows are
placed greedily from the start of the shot, each taking as many whole phrases as fit, and
centred on its speech inside the room its two pauses leave. A phrase longer than the window
(no pause to end in), or one squeezed between its neighbours or a shot edge with less than a
window of room, gives no window and is counted.

A silent window lies inside one pause at least a window long; the pauses are tiled with
them, and the caller keeps as many as ``--silent-share`` allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.voice.speech_segments import PAUSE_MARGIN_S, Span, pauses_between, speech_seconds

#: Windows keep this far inside their shot (s): the frame shown at a cut belongs to the new shot.
SHOT_EDGE_S = 1e-3


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    shot: int
    speech_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class ShotPlan:
    speech: list[Window]
    silent: list[Window]
    too_long: list[Span]  # phrases longer than a window
    unplaced: list[Span]  # phrases in no window (too long, or no room between their neighbours or the shot's edge)


def plan_shot(shot: int, start_s: float, end_s: float, spans: list[Span], length_s: float,
              margin_s: float = PAUSE_MARGIN_S) -> ShotPlan:
    """The windows of one shot ``[start_s, end_s)`` given every speech span of the recording."""
    lo, hi = start_s + SHOT_EDGE_S, end_s - SHOT_EDGE_S
    pauses = pauses_between(spans, lo, hi, margin_s)
    inside = [s for s in spans if s.end_s > lo and s.start_s < hi]
    plan = ShotPlan([], [], [], [])
    cursor, i = lo, 0
    while i < len(pauses) - 1:
        best = None
        for j in range(i + 1, len(pauses)):
            first = max(pauses[i].start_s, cursor)
            start_lo = max(first, pauses[j].start_s - length_s)
            start_hi = min(pauses[i].end_s, pauses[j].end_s - length_s)
            if start_lo <= start_hi:
                best = (j, start_lo, start_hi)
            elif pauses[j].start_s - pauses[i].end_s > length_s:
                break  # the speech between them is already longer than a window
        if best is None:
            i += 1
            continue
        j, start_lo, start_hi = best
        centre = (pauses[i].end_s + pauses[j].start_s) / 2
        start = min(max(centre - length_s / 2, start_lo), start_hi)
        start = round(start, 4)
        end = start + length_s
        plan.speech.append(Window(start, end, shot, round(speech_seconds(spans, start, end), 4)))
        cursor, i = end, j
    taken = [(w.start_s, w.end_s) for w in plan.speech]
    plan.unplaced = [s for s in inside if not any(a <= s.start_s and s.end_s <= b for a, b in taken)]
    plan.too_long = [s for s in plan.unplaced if s.duration_s > length_s - 2 * margin_s]
    for pause in pauses:
        plan.silent += _tile(pause, length_s, shot, taken)
    return plan


def _tile(pause: Span, length_s: float, shot: int, taken: list[tuple[float, float]]) -> list[Window]:
    """Silent windows filling ``pause`` (centred), clear of the speech windows."""
    free = [(pause.start_s, pause.end_s)]
    for a, b in taken:
        free = [piece for lo, hi in free for piece in ((lo, min(hi, a)), (max(lo, b), hi)) if piece[1] > piece[0]]
    out = []
    for lo, hi in free:
        count = int((hi - lo) // length_s)
        if count <= 0:
            continue
        start = lo + (hi - lo - count * length_s) / 2
        out += [Window(round(start + k * length_s, 4), round(start + k * length_s, 4) + length_s, shot, 0.0)
                for k in range(count)]
    return out


def silent_quota(speech_windows: int, share: float) -> int:
    """How many silent windows go with ``speech_windows`` so that they are ``share`` of all."""
    if share <= 0:
        return 0
    if share >= 1:
        return 1 << 30
    return int(share * speech_windows / (1 - share) + 1e-9)


def spread_pick(items: list, count: int) -> list:
    """``count`` of ``items`` spread evenly over the list (all when there are fewer)."""
    if count >= len(items):
        return list(items)
    if count <= 0:
        return []
    step = len(items) / count
    return [items[int(step * k + step / 2)] for k in range(count)]
