"""What a performance did (:class:`PerformSummary`), printed by ``latent perform`` at exit."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PerformSummary:
    """What a performance did, printed at exit."""

    hops: int = 0
    seconds: float = 0.0
    wall_seconds: float = 0.0
    stopped_by: str = ""
    underflows: int = 0
    underflow_frames: int = 0
    status_xruns: int = 0
    callbacks: int = 0
    cpu_load_max: float = 0.0
    dsp_load_max: float = 0.0
    max_hop_ms: float = 0.0
    mean_cpu_load: float = 0.0
    latency_ms: float = 0.0
    actions_applied: int = 0
    midi_messages: int = 0
    record: str | None = None
    recorded_frames: int = 0
    log_events: str | None = None
    events_logged: int = 0
    action_errors: list[str] = field(default_factory=list)
    inversion: str = ""
    osc: str = ""  # "OSC: N received, M ignored" with --osc-port

    def report(self) -> str:
        lines = [
            f"performed {self.seconds:.2f} s ({self.hops} hops) in {self.wall_seconds:.2f} s; "
            f"stopped by {self.stopped_by}",
            f"audio: {self.callbacks} callbacks, {self.underflows} ring underflows "
            f"({self.underflow_frames} frames), {self.status_xruns} PortAudio xrun flags; "
            f"engine latency {self.latency_ms:.1f} ms",
            f"processing thread: CPU load mean {100 * self.mean_cpu_load:.1f}% "
            f"(max {100 * self.cpu_load_max:.1f}% per 0.5 s), "
            f"slowest hop {self.max_hop_ms:.1f} ms",
            f"control: {self.actions_applied} actions applied, {self.midi_messages} MIDI messages",
        ]
        if self.record:
            lines.append(f"recorded {self.recorded_frames} frames to {self.record}")
        if self.log_events:
            lines.append(f"logged {self.events_logged} events to {self.log_events}")
        if self.inversion:
            lines.append(self.inversion)
        if self.osc:
            lines.append(self.osc)
        for err in self.action_errors[:5]:
            lines.append(f"skipped action: {err}")
        return "\n".join(lines)
