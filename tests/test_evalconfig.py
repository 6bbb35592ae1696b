"""EvalConfig: cyclegan-eval's numeric flags are all checked the same way (issue 30, item
8), and a result from too few test images is printed as such (item 7)."""

import json
import re

import pytest

from cyclegan import flags
from cyclegan.checkpoint import new_checkpoint, save_checkpoint
from cyclegan.cli import eval as eval_cli
from cyclegan.errors import UsageError
from cyclegan.evaluation import evaluate, report
from cyclegan.evaluation.config import RANKED_IMAGES, EvalConfig
from cyclegan.models import ModelConfig, ResnetGenerator

SIZE = 16
BOUNDED = [f for f in flags.flag_fields(EvalConfig) if f.metadata["bounds"]]


@pytest.fixture
def ckpt(tmp_path):
    cfg = ModelConfig(ngf=4, ndf=4, n_blocks=1)
    state = new_checkpoint(cfg, None)
    for d in ("A2B", "B2A"):
        state[f"G_{d}"] = ResnetGenerator(cfg, fused=False).state_dict()
    state.update(step=7, train_config={"data": "builtin:seasons", "image_size": SIZE})
    path = tmp_path / "model.pt"
    save_checkpoint(path, state)
    return path


def _below(bounds):
    """A value just outside the first bound."""
    op, limit = bounds[0]
    return limit - 1 if op in (">=", ">") else limit + 1


def test_every_numeric_flag_is_bounded():
    numeric = {f.name for f in flags.flag_fields(EvalConfig)
               if f.type in ("int", "int | None", "float") and f.name != "seed"}
    assert numeric == {f.name for f in BOUNDED}


@pytest.mark.parametrize("field", BOUNDED, ids=lambda f: f.name)
def test_out_of_bounds_flags_exit_2_before_any_work(field, ckpt, capsys, monkeypatch):
    # Issue 30 item 8: --image-size 0 silently meant the default (-4 was refused).
    monkeypatch.setattr(evaluate, "_generators", lambda *a: pytest.fail("evaluation started"))
    bad = _below(field.metadata["bounds"])
    name = flags.flag(EvalConfig, field.name)
    assert eval_cli.main([str(ckpt), name, str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    op, limit = field.metadata["bounds"][0]
    assert err == f"cyclegan-eval: error: {name} must be {op} {limit}, got {bad}\n"


@pytest.mark.parametrize("value", [0, -4])
def test_python_callers_get_the_same_errors(value, ckpt, monkeypatch):
    monkeypatch.setattr(evaluate, "_generators", lambda *a: pytest.fail("evaluation started"))
    with pytest.raises(UsageError, match=f"^--image-size must be >= 8, got {value}$"):
        evaluate.evaluate(ckpt, image_size=value)
    with pytest.raises(UsageError, match="^--direction must be one of"):
        EvalConfig(model="m", direction="AB").checked()
    assert EvalConfig(model="m", domains="a,b").checked().domains == {"A": "a", "B": "b"}


NEGATIVE_NUMBER = re.compile(r"(?<![\w.>-])-\d")


def _distances(table: str) -> list[str]:
    """The printed distance cells: the FD and KID rows of the metric table, and the FD / KID
    columns of the baseline tables (SSIM, which can be negative, is no distance)."""
    cells, in_baselines = [], False
    for line in table.splitlines():
        if line.startswith(("Frechet distance", "KID", "FID")):
            cells += line.split(")")[-1].split()
        elif "against learning-free baselines" in line:
            in_baselines = True
        elif in_baselines and not line.strip().startswith(("domain", "(")) and line.strip():
            cells += line.split()[-2:] if line[:1] != "(" else []
        if not line.strip():
            in_baselines = False
    return cells


def test_few_images_caution_and_never_a_negative_distance(ckpt, tmp_path, capsys):
    # Issue 30 item 7: 2 images per domain printed KIDs of -29,995 under "lower is better"
    # and named a best baseline from them.
    out = tmp_path / "eval.json"
    assert eval_cli.main([str(ckpt), "--data", "builtin:seasons", "--max-images", "2",
                          "--classifier-images", "6", "--classifier-steps", "5", "--cache-dir",
                          "", "--json", str(out), "--quiet", "--device", "cpu", "--no-judge",
                          "--image-size", str(SIZE)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"caution: 2 test images per domain: distances from fewer than "
                              f"{RANKED_IMAGES}")
    assert "best baseline's FD" not in printed and "no best baseline named" in printed
    assert _distances(printed) and not any(NEGATIVE_NUMBER.match(c) for c in _distances(printed))
    # Whatever the estimates came out as here, a negative KID is never printed as a number.
    res = json.loads(out.read_text())
    a2b = res["directions"]["A2B"]
    a2b["kid_clf"] = -0.029995
    next(iter(a2b["baselines"].values()))["kid_clf"] = -1.5
    table = report.format_eval(res)
    assert not any(NEGATIVE_NUMBER.match(c) for c in _distances(table))
    assert "-29.99" not in table and "-1500.00" not in table
    assert f" {report.KID_NOISE}" in table and report.KID_NOISE_NOTE in table
    # With enough images the best baseline is named again, and positive KIDs print as ever.
    res["test_images"] = {"A": RANKED_IMAGES, "B": RANKED_IMAGES}
    a2b["kid_clf"] = 0.0125
    table = report.format_eval(res)
    assert "best baseline's FD" in table and "caution" not in table and "12.50" in table


def test_sweep_tables_print_no_negative_kid():
    rows = [{"config": "a", "direction": "A2B", "kid": -0.002, "fid": 3.0}]
    assert report.KID_NOISE in report.metrics_markdown(rows)
    assert "-0.002" not in report.metrics_markdown(rows) + report.metrics_html(rows)


def test_every_space_measured_has_a_label_and_a_sweep_column():
    from cyclegan.evaluation import evaldata

    assert tuple(report.SPACE_LABELS) == evaldata.SPACES
    assert {f"kid_{s}" for s in evaldata.SPACES} <= {k for k, _ in report.METRIC_COLUMNS}


def test_sweep_tables_show_the_judges_distances_where_it_ran():
    def result(name, judged):
        m = {"source": "summer", "target": "winter", "domain_score": 0.5,
             "input_domain_score": 0.1, "structure_ssim": 0.9, "kid": 0.02,
             "kid_clf": 0.03}
        if judged:
            m.update(kid_pool=0.0111, kid_s16=4.014, kid_pool_luma=-0.001, kid_s16_luma=2.163)
        return {"name": name, "metrics": {"A2B": m}, "run": {"steps": 10}}

    rows = report.metric_rows([result("a", True), result("b", False)])
    table = report.metrics_markdown(rows)
    head, _, first, second = ([c.strip() for c in line.strip("|").split("|")]
                              for line in table.splitlines())
    at = head.index("KID clf")
    assert head[at:at + 5] == ["KID clf", "KID pool", "KID s16", "KID pool_luma",
                               "KID s16_luma"]
    assert first[at:at + 5] == ["0.03", "0.0111", "4.014", report.KID_NOISE, "2.163"]
    assert second[at:at + 5] == ["0.03", "-", "-", "-", "-"]
    # Without the judge anywhere its columns are left out, not shown empty.
    assert "KID pool" not in report.metrics_markdown(rows[1:])
    assert "kid_s16_luma" in report.metrics_csv(rows).splitlines()[0]


def test_baseline_table_keeps_every_space_in_blocks_that_fit_a_terminal():
    spaces = list(report.SPACE_LABELS)

    def entry(base: float) -> dict:
        return {"domain_score": 0.5, "structure_ssim": 0.9,
                **{f"fd_{s}": base + i for i, s in enumerate(spaces)},
                **{f"kid_{s}": (base + i) / 1000 for i, s in enumerate(spaces)}}

    res = {**entry(10.0), "target": "winter",
           "baselines": {"semantic colour transfer": entry(20.0)},
           "real_halves": {f"fd_{s}": 1.0 for s in spaces},
           "best_baseline": {f"fd_{s}": "semantic colour transfer" for s in spaces},
           "vs_best_baseline": {f"fd_{s}": 0.5 for s in spaces}}
    lines = report.baseline_table("A2B", res).splitlines()
    heads = [i for i, line in enumerate(lines) if line.lstrip().startswith("domain")]
    assert len(heads) == -(-len(spaces) // report.TABLE_SPACES) == 2
    table = lines[heads[0]:next(i for i, line in enumerate(lines) if line.startswith("("))]
    assert max(len(line) for line in table) <= 100
    for s in spaces:  # each value sits right-aligned under its own head, model and baseline
        (h,) = [i for i in heads if re.search(rf"KID {s}(?!\w)", lines[i])]
        end = re.search(rf"KID {s}(?!\w)", lines[h]).end()
        for row, source in ((lines[h + 1], res), (lines[h + 2], res["baselines"][
                "semantic colour transfer"])):
            cell = report.kid_text(source[f"kid_{s}"])
            assert row[end - len(cell):end] == cell and row[end - len(cell) - 1] == " "
