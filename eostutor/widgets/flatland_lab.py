"""FlatlandLab: two rules from the same initialisation on shared axes (default: NLS vs NLS-ub in Flatland)."""

from __future__ import annotations

import numpy as np

from eostutor import stepsizes
from eostutor._validate import check_choice, check_int, check_positive
from eostutor.experiments import FLATLAND_SEED
from eostutor.problems import Problem
from eostutor.record import Run
from eostutor.widgets import curves
from eostutor.widgets.base import PAGE_WIDTH, PANEL_HEIGHT, PANEL_WIDTH, Job, LiveWidget, log_slider, typed_box, widened
from eostutor.widgets.model import ComparisonModel, divergence_message
from eostutor.widgets.panels import RUN_COLORS, _widgets, legend_html

__all__ = ["FlatlandLab"]


class FlatlandLab(LiveWidget):
    """Two rules on a ReLU network with K-class MSE, from the same initialisation, on shared axes (default:
    NLS vs NLS-ub in Flatland).

    Six panels, each with both runs in their two colours: the panels of the paper's Figure 3 plus the step
    size: loss, sharpness (with the 2/K floor), test accuracy, η·λ_max, step size (with η = K) and the layer
    gradient norms (hidden layers solid, last-layer bias dashed). Both runs stream (first, then second) in a
    background thread; changing a control cancels them ("latest wins").

    Each side has a rule menu (every registered rule that can run on the problem) and an η slider for that
    rule's own η parameter: the step of constant GD (η = 8–9 is the most reliable route into Flatland for
    K = 10), the first step η₀ of the line searches, the cap of NLS-ub (default K). Choosing a rule moves
    its slider to the rule's default; rules that choose every step themselves disable it. The *init scale*
    multiplies every initial weight matrix (1: PyTorch's default). One seed is an anecdote: *run n seeds*
    trains both rules on seeds seed, seed + 1, … and reports on how many each entered Flatland
    (:func:`eostutor.experiments.flatland_signature`).

    Args:
        rules: The two rule names (default ("nls", "nls-ub")).
        num_steps: Steps per run.
        seed: Initialisation seed, the same for both (default :data:`eostutor.experiments.FLATLAND_SEED`).
        problem: A network Problem (default :func:`eostutor.experiments.flatland_problem`, the Flatland
            setting: 4×16 ReLU MLP, 500 digits, MSE, K = 10).
        eta: The η controls, one number for both sides or a pair (default: each rule's own default, 8 for
            constant GD).
        sharpness_every: λ_max measurement interval.
        init_scale: Initial multiplier of the weight matrices.
        background: Train in a background thread (default True).
    """

    PANELS = ("loss", "sharpness", "test_accuracy", "eta_sharpness", "step_size", "layer_grad_norms")
    #: η of constant GD when no value is given (its step has no default).
    CONSTANT_ETA = 8.0

    def __init__(self, rules=("nls", "nls-ub"), *, num_steps: int = 300, seed: int | None = None,
                 problem: Problem | None = None, eta=None, sharpness_every: int = 10, init_scale: float = 1.0,
                 background: bool = True):
        super().__init__()
        w = _widgets()
        self.model = ComparisonModel(problem, sharpness_every)
        self.problem = self.model.problem
        self.sharpness_every = self.model.sharpness_every
        self.background = background
        seed = FLATLAND_SEED if seed is None else check_int("seed", seed, minimum=0)
        rules = list(rules)
        if len(rules) != 2:
            raise ValueError(f"FlatlandLab compares exactly two rules, got {rules!r}")
        options = list(self.model.rule_names())
        rules = [check_choice("rule", r, options) for r in rules]
        etas = [eta, eta] if eta is None or np.ndim(eta) == 0 else list(eta)
        if len(etas) != 2:
            raise ValueError(f"eta must be one number or a pair, got {eta!r}")
        etas = [self._default_eta(r) if e is None else check_positive("eta", float(e)) for r, e in zip(rules, etas)]
        self.controls = {
            "rule_a": w.Dropdown(options=options, value=rules[0], description="first"),
            "eta_a": log_slider(etas[0], *self._eta_range(etas[0]), width="300px"),
            "eta_a_text": typed_box(etas[0]),
            "rule_b": w.Dropdown(options=options, value=rules[1], description="second"),
            "eta_b": log_slider(etas[1], *self._eta_range(etas[1]), width="300px"),
            "eta_b_text": typed_box(etas[1]),
            "num_steps": w.IntSlider(value=num_steps, min=10, max=3000, step=10, description="steps",
                                     continuous_update=False),
            "seed": w.BoundedIntText(value=seed, min=0, max=10_000, description="seed",
                                     layout=w.Layout(width="170px")),
            "init_scale": log_slider(check_positive("init_scale", init_scale), 0.25, 4.0, "init scale", steps=80,
                                     width="300px", continuous=False),
            "init_scale_text": typed_box(init_scale),
            "n_seeds": w.BoundedIntText(value=5, min=2, max=50, description="n", style={"description_width": "16px"},
                                        layout=w.Layout(width="90px")),
            "survey": w.Button(description="run n seeds", icon="list", layout=w.Layout(width="120px"),
                               tooltip="both rules on seeds seed, seed + 1, …: on how many does each enter Flatland?"),
        }
        self.survey_result: dict | None = None
        self.survey_table = w.HTML()
        self.runs: list[Run | None] = [None, None]
        self.panels = {name: curves.make_panel(name, PANEL_WIDTH, PANEL_HEIGHT) for name in self.PANELS}
        # Two runs share each panel, so their own 2/η references are left out; what the lab is about, the 2/K
        # floor, is drawn for every rule.
        self.panels["sharpness"].set_title("Sharpness λ_max and the 2/K floor")
        self._survey_key = None  # the settings the survey table was made with
        self.legends = {name: w.HTML(layout=w.Layout(width=f"{PANEL_WIDTH}px", min_height="22px"))
                        for name in self.PANELS}
        self.runs_legend = w.HTML()
        c = self.controls
        grid = w.GridBox([w.VBox([self.panels[n].figure, self.legends[n]]) for n in self.PANELS],
                         layout=w.Layout(grid_template_columns=f"repeat(3, {PANEL_WIDTH}px)", grid_gap="2px 4px"))
        self.widget = w.VBox([w.HBox([w.VBox([c["rule_a"], w.HBox([c["eta_a"].position, c["eta_a_text"]])]),
                                      w.VBox([c["rule_b"], w.HBox([c["eta_b"].position, c["eta_b_text"]])])]),
                              w.HBox([c["num_steps"], c["seed"], c["init_scale"].position, c["init_scale_text"]]),
                              w.HBox([c["survey"], c["n_seeds"], self.survey_table]),
                              w.HBox([self.progress, self.status]), self.runs_legend, grid, self.output],
                             layout=w.Layout(max_width=f"{PAGE_WIDTH}px"))
        for name in ("num_steps", "seed", "init_scale"):
            self._observe(name, self.update)
        self._observe("init_scale_text", lambda browser=False: self._typed("init_scale_text", "init_scale",
                                                                           "init scale"))
        c["survey"].on_click(self._guard(lambda _b: self.survey()))
        for side in ("a", "b"):
            self._observe(f"rule_{side}", lambda side=side, browser=False: self._on_rule(side))
            # η re-runs only when that side's rule uses it
            self._observe(f"eta_{side}",
                          lambda side=side, browser=False: self.update() if self._uses_eta(side) else None)
            self._observe(f"eta_{side}_text",
                          lambda side=side, browser=False: self._typed(f"eta_{side}_text", f"eta_{side}"))
        self._guard(self.update)()

    def __repr__(self) -> str:
        a, b = self.controls["rule_a"].value, self.controls["rule_b"].value
        return f"FlatlandLab({a!r} vs {b!r} on {self.problem!r})"

    #: The η sliders span these (for constant GD, the line searches' first step, NLS-ub's cap, GD-warmup's
    #: peak); a given or default η outside widens them (AdGD starts at 1e-6).
    ETA_RANGE = (1e-2, 1e2)

    def _eta_range(self, eta: float) -> tuple[float, float]:
        lo, hi = self.ETA_RANGE
        return widened(lo, hi, eta)

    def _default_eta(self, rule: str) -> float:
        default = stepsizes.RULES[rule].default_eta(self.problem.num_classes)
        return self.CONSTANT_ETA if default is None else default

    def _uses_eta(self, side: str) -> bool:
        return not self._holding and stepsizes.RULES[self.controls[f"rule_{side}"].value].eta_param is not None

    def _eta(self, side: str) -> float:
        return self.value(f"eta_{side}")

    def _on_rule(self, side: str) -> None:
        with self._hold():
            eta = self._default_eta(self.controls[f"rule_{side}"].value)
            self.controls[f"eta_{side}"].set_range(*self._eta_range(eta))
            self.controls[f"eta_{side}"].value = eta
        self.update()

    def update(self, browser: bool = False) -> None:
        """Re-run both rules with the current controls (cancels a running pair)."""
        if self._holding:
            return
        self._clear_output()
        for side in ("a", "b"):
            rule = self.controls[f"rule_{side}"].value
            unused = stepsizes.RULES[rule].eta_param is None
            self.controls[f"eta_{side}"].disabled = self.controls[f"eta_{side}_text"].disabled = unused
            self.controls[f"eta_{side}"].description = stepsizes.eta_symbol(rule) or "η (unused)"
            self._show_value(f"eta_{side}_text", f"eta_{side}")
        self._show_value("init_scale_text", "init_scale")
        specs = [(self.controls[f"rule_{side}"].value, self._eta(side)) for side in ("a", "b")]
        num_steps = int(self.controls["num_steps"].value)
        seed = int(self.controls["seed"].value)
        for name, eta in specs:  # bad settings: rejected before any work
            self.model.rule(name, eta)
        if self._survey_key is not None and self._survey_key != self._settings_key():
            self._survey_key = None  # the table stays, marked as made with the earlier settings
            self.survey_table.value = ('<div style="opacity:0.55" title="rules, η, steps, seed or init scale '
                                       'changed since">earlier settings: ' + self.survey_table.value + "</div>")
        self.submit(lambda job: self._job(job, specs, num_steps, seed), background=self.background)

    def _job(self, job: Job, specs, num_steps: int, seed: int) -> None:
        self.runs = [None, None]
        for col, (name, eta) in enumerate(specs):
            label = self.model.label(name, eta)

            def on_partial(partial, col=col, label=label):
                job.progress((col + partial.num_steps / num_steps) / 2,
                             f"{label}: step {partial.num_steps} / {num_steps}")
                if not job.stale():
                    self._draw_column(col, partial, force=False)

            run = self.model.train(name, eta, num_steps, seed, init_scale=self.value("init_scale"),
                                   callback=on_partial, should_stop=job.stale)
            if job.superseded(run):
                return
            self.runs[col] = run
            self._draw_column(col, run, force=True)
        self.run = self.runs[1]
        parts = []
        for r in self.runs:
            if r.diverged:
                parts.append(f"{r.label}: {divergence_message(r, self.problem)}")
                continue
            s = r.summary()
            acc = r.test_accuracy[np.isfinite(r.test_accuracy)]
            extra = f", test acc. {acc[-1]:.2f}" if acc.size else ""
            parts.append(f"{r.label}: final loss {s['final_loss']:.3g}, λ_max {s['final_sharpness']:.3g}{extra}")
        self._say("; ".join(parts), "warn" if any(r.diverged for r in self.runs) else "ok")

    def survey(self, n: int | None = None, first_seed: int | None = None) -> None:
        """Both rules on ``n`` seeds from ``first_seed`` on (default: the n and seed controls, which are set to
        the values given): how many entered Flatland; runs in the background unless ``background=False``.
        """
        if n is not None:
            self.controls["n_seeds"].value = check_int("n", n, minimum=2, maximum=50)
        if first_seed is not None:
            with self._hold():  # the seed control re-runs the pair otherwise
                self.controls["seed"].value = check_int("first_seed", first_seed, minimum=0, maximum=10_000)
        specs = [(self.controls[f"rule_{side}"].value, self._eta(side)) for side in ("a", "b")]
        seed, n = int(self.controls["seed"].value), int(self.controls["n_seeds"].value)
        num_steps, scale = int(self.controls["num_steps"].value), self.value("init_scale")
        seeds = list(range(seed, seed + n))
        key = self._settings_key()

        def work(job: Job) -> None:
            def progress(done, total):
                job.progress(done / total, f"run {done} of {total}")

            result = self.model.survey(specs, num_steps, seeds, init_scale=scale, should_stop=job.stale,
                                       callback=progress)
            if job.stale():
                return
            self.survey_result = result
            self.survey_table.value = _survey_html(result, seeds, num_steps)
            self._survey_key = key
            self._say(f"{len(specs) * n} runs on seeds {seeds[0]}–{seeds[-1]} done", "ok")

        self.submit(work, background=self.background, message=f"training both rules on {n} seeds …")

    def _settings_key(self) -> tuple:
        return (tuple((self.controls[f"rule_{side}"].value, self._eta(side)) for side in ("a", "b")),
                int(self.controls["num_steps"].value), int(self.controls["seed"].value), self.value("init_scale"))

    def _draw_column(self, col: int, run: Run, force: bool) -> None:
        """Draw run ``col`` (0 or 1) with the other one (if finished) into every panel."""
        if self.throttled(force):
            return
        runs = [(r, i) for i, r in enumerate(self.runs) if r is not None and i != col] + [(run, col)]
        n = float(int(self.controls["num_steps"].value))
        with self.drawing():
            for name, panel in self.panels.items():
                legend, values = [], []
                with panel.frame():
                    for r, i in sorted(runs, key=lambda item: item[1]):
                        # the 2/K floor for every rule, not only the ones it bounds: it is what the lab is about
                        extra = {"floor": i == 0} if name == "sharpness" else {}
                        values += curves.DRAW[name](panel, r, f"run{i}", RUN_COLORS[i], main=i == 0,
                                                    legend=legend if i == 0 else None, thresholds=False, **extra)
                    if panel.xlim != (0.0, n):
                        panel.set_limits(x=(0.0, n))
                    panel.fit_y(values)
                value = legend_html(legend)
                if self.legends[name].value != value:
                    self.legends[name].value = value
            labels = [self.model.label(self.controls[f"rule_{s}"].value, self._eta(s)) for s in ("a", "b")]
            self.runs_legend.value = legend_html([(label, RUN_COLORS[i], "-") for i, label in enumerate(labels)])


def _survey_html(result: dict, seeds, num_steps: int) -> str:
    """The seed survey as a small table: rule, Flatland on k of n seeds, median final loss and accuracy."""
    import html

    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td><b>{r['flatland']} of {r['seeds']}</b></td>"
        f"<td>{r['median_final_loss']:.3g}</td><td>{r['median_test_accuracy']:.2f}</td>"
        f"<td>{r['diverged']}</td></tr>" for label, r in result.items())
    return ('<table style="font-size:12.5px; border-collapse:collapse" cellpadding="3">'
            f"<tr><th>rule</th><th>in Flatland</th><th>median final loss</th><th>median test acc.</th>"
            f"<th>diverged</th></tr>{rows}</table>"
            f'<div style="font-size:11.5px; color:#555">seeds {seeds[0]}–{seeds[-1]}, {num_steps} steps each</div>')
