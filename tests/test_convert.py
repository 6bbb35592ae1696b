
import pytest
import torch
from torch import nn

from cyclegan.checkpoint import load_checkpoint, load_generator
from cyclegan.export.convert import ConvertError, convert_file, official_to_ours

from conftest import run_cli


class OfficialResnetBlock(nn.Module):
    """The official ResnetBlock layout (reflect padding, instance norm, optional dropout)."""

    def __init__(self, dim, use_dropout=False):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True),
                  nn.InstanceNorm2d(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True),
                   nn.InstanceNorm2d(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class OfficialResnetGenerator(nn.Module):
    """An independent rewrite of the official ResnetGenerator's module layout."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, n_blocks=9, use_dropout=False):
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=True),
                 nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            model += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=True),
                      nn.InstanceNorm2d(2 * c), nn.ReLU(True)]
        model += [OfficialResnetBlock(ngf * 4, use_dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 4 // 2**i
            model += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1,
                                         bias=True),
                      nn.InstanceNorm2d(c // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


def official(seed=0, **kw):
    torch.manual_seed(seed)
    net = OfficialResnetGenerator(**kw).eval()
    for p in net.parameters():  # spread the biases so a mix-up would show
        nn.init.normal_(p, 0.0, 0.05)
    return net


def test_official_9_block_layout_keys():
    keys = official().state_dict().keys()
    assert {"model.1.weight", "model.4.weight", "model.7.weight",
            "model.10.conv_block.1.weight", "model.10.conv_block.5.bias",
            "model.18.conv_block.5.weight", "model.19.weight", "model.22.weight",
            "model.26.weight", "model.26.bias"} <= set(keys)
    assert sum(p.numel() for p in official().parameters()) == 11_378_179


@pytest.mark.parametrize("kw", [dict(ngf=8, n_blocks=2), dict(ngf=8, n_blocks=3, use_dropout=True),
                                dict(ngf=4, n_blocks=6, input_nc=1, output_nc=3)])
def test_converted_generator_matches_official_outputs(tmp_path, kw):
    net = official(**kw)
    torch.save(net.state_dict(), tmp_path / "latest_net_G_A.pth")
    info = convert_file(tmp_path / "latest_net_G_A.pth", tmp_path / "g.pt", "A2B",
                        {"A": "summer", "B": "winter"})
    ours, meta = load_generator(tmp_path / "g.pt")
    assert info["config"]["n_blocks"] == kw["n_blocks"] and meta["domains"]["B"] == "winter"
    x = torch.rand(2, kw.get("input_nc", 3), 32, 40) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours(x), net(x), atol=1e-5, rtol=0)


def test_full_size_conversion_and_old_instance_norm_buffers(tmp_path):
    net = official()
    state = dict(net.state_dict())
    # Checkpoints from old PyTorch carry (meaningless) InstanceNorm running stats.
    state["model.2.running_mean"] = torch.zeros(64)
    state["model.2.running_var"] = torch.ones(64)
    state["model.10.conv_block.2.num_batches_tracked"] = torch.tensor(0)
    state = {f"module.{k}": v for k, v in state.items()}  # DataParallel prefix
    torch.save(state, tmp_path / "g.pth")
    convert_file(tmp_path / "g.pth", tmp_path / "g.pt", direction="B2A")
    ckpt = load_checkpoint(tmp_path / "g.pt")
    assert "G_A2B" not in ckpt and "G_B2A" in ckpt
    ours, _ = load_generator(tmp_path / "g.pt", direction="B2A")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours(x), net(x), atol=1e-5, rtol=0)


def test_rejects_what_is_not_an_official_instance_norm_resnet(tmp_path):
    with pytest.raises(ConvertError, match="not an official"):
        official_to_ours({"conv.weight": torch.zeros(1)})
    with pytest.raises(ConvertError, match="non-empty"):
        official_to_ours({})
    state = official(ngf=4, n_blocks=1).state_dict()
    with pytest.raises(ConvertError, match="batch norm"):
        official_to_ours({**state, "model.2.weight": torch.ones(4)})
    no_bias = {k: v for k, v in state.items() if k != "model.4.bias"}
    with pytest.raises(ConvertError, match="model.4.bias"):
        official_to_ours(no_bias)
    with pytest.raises(ConvertError, match="unexpected keys"):
        official_to_ours({**state, "model.99.weight": torch.zeros(1)})
    bad_shape = {**state, "model.4.weight": torch.zeros(8, 5, 3, 3)}
    with pytest.raises(ConvertError, match="do not form"):
        official_to_ours(bad_shape)
    (tmp_path / "x.pth").write_text("not torch")
    with pytest.raises(ConvertError, match="not a readable"):
        convert_file(tmp_path / "x.pth", tmp_path / "o.pt")
    with pytest.raises(ConvertError, match="not found"):
        convert_file(tmp_path / "missing.pth", tmp_path / "o.pt")


def test_cli(tmp_path):
    torch.save(official(ngf=4, n_blocks=1).state_dict(), tmp_path / "g.pth")
    r = run_cli("convert", str(tmp_path / "g.pth"), "--out", str(tmp_path / "g.pt"), "--domains",
                "summer,winter", fresh=True)
    assert r.returncode == 0, r.stderr
    assert "G_A2B" in r.stdout
    assert load_checkpoint(tmp_path / "g.pt")["domains"] == {"A": "summer", "B": "winter"}
    # The official weights do not say their scale: left unset, the documented default applies.
    assert load_checkpoint(tmp_path / "g.pt")["model_config"]["work_size"] is None
    r = run_cli("convert", str(tmp_path / "g.pth"), "--out", str(tmp_path / "g2.pt"), "--domains",
                "x", fresh=True)
    assert r.returncode == 2 and "two names" in r.stderr
    (tmp_path / "file").write_text("")
    r = run_cli("convert", str(tmp_path / "g.pth"), "--out", str(tmp_path / "file" / "g.pt"),
                fresh=True)
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("convert", "--help", fresh=True)
    assert r.returncode == 0 and "--direction" in r.stdout and "default: A2B" in r.stdout
