import re

import pytest
from pydantic import ValidationError

from tuneoff.models.sources import BundledMiniLM, HubModel, RandomDistilBert
from tuneoff.plan.config import ConfigError, Protocol
from tuneoff.plan.jobs import plan
from tuneoff.plan.loading import load_config, shipped_configs
from tuneoff.store.results import differences
from tuneoff.store.runfolder import RunFolder
from tuneoff.strategies import STRATEGIES, Full, Lora


def test_shipped_configs_are_the_documented_ones():
    assert set(shipped_configs()) == {
        "seed.toml",
        "offline.toml",
        "offline-sst2.toml",
        "offline-phrases.toml",
        "zoo.toml",
        "zoo-cpu.toml",
        "zoo-robust.toml",
        "quick.toml",
    }


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_loads_and_passes_the_checks_before_training(name, tmp_path):
    from tuneoff.plan.config import tuning_seeds
    from tuneoff.plan.jobs import plan, plan_tuning
    from tuneoff.run.preflight import preflight

    config = load_config(name)
    sha = {"train": "a", "dev": "b", "test": "c"}
    jobs = (
        plan(config, sha)
        if not config.tuning
        else [j for p in config.players for j in plan_tuning(config, sha, p.name, {})]
    )
    per_player = (
        config.tuning.size * len(tuning_seeds(config)) if config.tuning else len(config.tournament.seeds or [1])
    )
    assert len(jobs) == len(config.players) * per_player
    # the Hub is not reachable in tests: leave out players that need it (seed.toml's, all of them)
    offline = [
        j for j in jobs if j.player.model.kind == "minilm" or getattr(j.player.model, "tokenizer", "") == "bundled"
    ]
    preflight(offline, RunFolder(tmp_path / "run"))


@pytest.mark.parametrize("name", ["seed.toml", "offline.toml"])
def test_the_game_configs_are_the_published_four_players(name):
    config = load_config(name)
    roles = [(p.name, type(p.model), type(p.strategy)) for p in config.players]
    host = HubModel if name == "seed.toml" else BundledMiniLM
    assert roles == [
        ("host", host, Full),
        ("player1", RandomDistilBert, Full),
        ("player2", RandomDistilBert, Lora),
        ("player3", host, Lora),
    ]
    # the game's rule: one protocol for all, nothing overridable
    assert config.tournament.overridable == ()
    assert all(config.protocol_for(p) == config.protocol for p in config.players)
    assert config.players[1].model.size == "small" and config.data.verify
    if name == "seed.toml":
        assert config.protocol.epochs == 15 and config.players[0].model.name == "distilbert-base-uncased"


def test_shipped_config_found_by_bare_name():
    assert load_config("offline").tournament.name == load_config("offline.toml").tournament.name == "offline"


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_unknown_key_names_file_line_and_key(tmp_path, tiny_config):
    text = tiny_config.read_text().replace("batch_size = 8", "batch_size = 8\nbatch_sise = 8")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    line = text.splitlines().index("batch_sise = 8") + 1
    assert f"c.toml:{line}: protocol.batch_sise: unknown key" in str(err.value)


def test_bad_value_names_the_choices(tmp_path, tiny_config):
    text = tiny_config.read_text().replace("seed = 7", 'seed = 7\nprecision = "fp8"')
    with pytest.raises(ConfigError, match=r"protocol\.precision: Input should be 'fp32', 'tf32' or 'bf16'"):
        load_config(write(tmp_path, text))
    text = tiny_config.read_text().replace("epochs = 2", "epochs = 0")
    with pytest.raises(ConfigError, match=r"protocol\.epochs: .*greater than or equal to 1 \(got 0\)"):
        load_config(write(tmp_path, text))


def test_unknown_strategy_lists_the_registry(tmp_path, tiny_config):
    text = tiny_config.read_text().replace('name = "lora", r = 4', 'name = "lorra", r = 4')
    expected = f"players.1.strategy: unknown strategy 'lorra'; choices: {sorted(STRATEGIES)}"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(write(tmp_path, text))


def test_unknown_strategy_option_is_rejected(tmp_path, tiny_config):
    text = tiny_config.read_text().replace("r = 4, alpha = 8", "r = 4, alpha = 8, rank = 3")
    with pytest.raises(ConfigError, match=r"players\.1\.strategy\.rank: unknown key"):
        load_config(write(tmp_path, text))


def test_unknown_model_kind_lists_the_registry(tmp_path, tiny_config):
    text = tiny_config.read_text().replace(
        'kind = "random", size = "tiny" }\nstrategy = { name = "full"', 'kind = "gpt" }\nstrategy = { name = "full"'
    )
    with pytest.raises(ConfigError, match=r"unknown model kind 'gpt'; choices: \['hub', 'minilm', 'random'\]"):
        load_config(write(tmp_path, text))


def test_override_outside_the_allowed_list_fails(tmp_path, tiny_config):
    text = tiny_config.read_text().replace("protocol = { learning_rate = 5e-3 }", "protocol = { epochs = 9 }")
    with pytest.raises(ConfigError, match=r"overrides \['epochs'\], which tournament\.overridable does not allow"):
        load_config(write(tmp_path, text))


def test_allowed_override_changes_only_that_player(tiny_config):
    config = load_config(tiny_config)
    full, lora = config.players
    assert config.protocol_for(full).learning_rate == 2e-3
    assert config.protocol_for(lora).learning_rate == 5e-3
    assert config.protocol_for(lora).epochs == config.protocol.epochs


def test_duplicate_player_names_fail(tmp_path, tiny_config):
    text = tiny_config.read_text().replace('name = "lora"\n', 'name = "full"\n')
    with pytest.raises(ConfigError, match=r"repeated: \['full'\]"):
        load_config(write(tmp_path, text))


def test_toml_syntax_error_has_a_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.toml:2: .*not valid TOML"):
        load_config(write(tmp_path, "[tournament]\nname = \n"))


def test_set_overrides_typed_values_and_players_by_name(tiny_config):
    config = load_config(tiny_config, ["protocol.epochs=5", "players.lora.strategy.r=16", "data.verify=true"])
    assert config.protocol.epochs == 5 and isinstance(config.protocol.epochs, int)
    assert config.players[1].strategy.r == 16
    assert config.data.verify is True
    with pytest.raises(ConfigError, match=r"no player 'nobody'"):
        load_config(tiny_config, ["players.nobody.strategy.r=2"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(tiny_config, ["protocol.epochs"])


def test_set_addresses_player_names_with_dots(tiny_config):
    """issue 28: unquoted, the longest player name the key's parts spell wins; quoted, the name is taken whole."""
    text = tiny_config.read_text().split("[[players]]")[0] + "".join(
        f'[[players]]\nname = "{name}"\nmodel = {{ kind = "random", size = "tiny" }}\n'
        'strategy = { name = "lora", r = 4 }\n'
        for name in ("a", "a.b")
    )
    tiny_config.write_text(text)
    longest = load_config(tiny_config, ["players.a.b.strategy.r=16"])
    assert [p.strategy.r for p in longest.players] == [4, 16]  # 'a.b', not 'a' with a key 'b.strategy.r'
    quoted = load_config(tiny_config, ['players."a".strategy.r=8', "players.'a.b'.strategy.r=2"])
    assert [p.strategy.r for p in quoted.players] == [8, 2]
    with pytest.raises(ConfigError, match=r"""--set players."a".b.strategy.r=1: players.0.b: unknown key"""):
        load_config(tiny_config, ['players."a".b.strategy.r=1'])  # quoted 'a' never becomes 'a.b'
    with pytest.raises(ConfigError, match=r"no player 'c'; players: \['a', 'a.b'\]"):
        load_config(tiny_config, ["players.c.d.strategy.r=1"])


def test_class_names_are_in_the_identity_where_the_data_names_them(tiny_config, tmp_path):
    """issue 28: renaming a class in the data files makes results stale, saying so; SST's fixed names stay out of
    the identity, so SST results recorded before keep their job hashes."""
    from tuneoff.run.tournament import fingerprints, load_data

    def jobs(positive: str):
        for split in ("train", "dev", "test"):
            (tmp_path / f"{split}.csv").write_text(
                f"text,label\na superb {split},{positive}\nan awful {split},negative\n"
            )
        text = tiny_config.read_text().replace(
            "verify = false", 'name = "csv"\ntrain = "train.csv"\ndev = "dev.csv"\ntest = "test.csv"'
        )
        (tmp_path / "csv.toml").write_text(text)
        config = load_config(tmp_path / "csv.toml")
        return plan(config, fingerprints(*load_data(config, None, None)))

    before, after = jobs("positive")[0], jobs("pos")[0]
    assert before.identity["data"]["classes"] == ["negative", "positive"]
    assert before.job_hash != after.job_hash
    assert differences(before.identity, after.identity) == [
        "data.classes: ['negative', 'positive'] in the result, ['negative', 'pos'] now"
    ]
    sst = plan(
        load_config(tiny_config), fingerprints(*load_data(load_config(tiny_config), str(_trees(tmp_path)), None))
    )
    assert "classes" not in sst[0].identity["data"]


def _trees(tmp_path):
    from conftest import write_trees

    return write_trees(tmp_path / "sst5")


def test_player_names_that_differ_only_in_case_are_refused(tiny_config):
    tiny_config.write_text(tiny_config.read_text().replace('name = "lora"', 'name = "FULL"', 1))
    with pytest.raises(
        ConfigError,
        match=r"tiny\.toml: \(top level\): players\.1\.name 'FULL' and players\.0\.name "
        r"'full' differ only in case",
    ):
        load_config(tiny_config)


def test_config_is_frozen(tiny_config):
    config = load_config(tiny_config)
    with pytest.raises(ValidationError, match="frozen"):
        config.protocol.epochs = 3


SHA = {"train": "a" * 64, "dev": "b" * 64, "test": "c" * 64}


def hashes(config, sha=SHA):
    return {(j.name, j.seed): j.job_hash for j in plan(config, sha)}


def test_job_hash_tracks_what_changes_the_job_and_nothing_else(tiny_config):
    base = load_config(tiny_config)
    assert hashes(base) == hashes(load_config(tiny_config, ["data.dir='elsewhere'"]))
    assert hashes(base) == hashes(load_config(tiny_config, ["players.lora.description='words only'"]))
    other = hashes(load_config(tiny_config, ["players.lora.strategy.r=16"]))
    assert other[("full", 7)] == hashes(base)[("full", 7)] and other[("lora", 7)] != hashes(base)[("lora", 7)]
    for change in (
        ["protocol.epochs=3"],
        ["protocol.seed=8"],
        ["data.max_train=10"],
        ["players.full.model.size='small'"],
    ):
        assert (
            hashes(load_config(tiny_config, change))[("full", 8 if "seed" in change[0] else 7)]
            != hashes(base)[("full", 7)]
        ), change
    changed_data = hashes(base, {**SHA, "test": "d" * 64})
    assert all(changed_data[k] != v for k, v in hashes(base).items())


def test_seeds_make_one_job_per_player_and_seed(tiny_config):
    config = load_config(tiny_config, ["tournament.seeds=[1, 2, 3]"])
    jobs = plan(config, SHA)
    assert [(j.name, j.seed, j.data_seed) for j in jobs] == [(n, s, None) for n in ("full", "lora") for s in (1, 2, 3)]
    assert len({j.job_hash for j in jobs}) == 6 and all(j.protocol.seed == j.seed for j in jobs)
    grid = plan(load_config(tiny_config, ["tournament.seeds=[1, 2]", "tournament.data_seeds=[5, 6]"]), SHA)
    assert [(j.seed, j.data_seed) for j in grid if j.name == "full"] == [(1, 5), (1, 6), (2, 5), (2, 6)]
    assert {j.label for j in grid if j.name == "full"} == {
        "seed-1-data-5",
        "seed-1-data-6",
        "seed-2-data-5",
        "seed-2-data-6",
    }
    with pytest.raises(ConfigError, match=r"seeds must be distinct"):
        load_config(tiny_config, ["tournament.seeds=[1, 1]"])


def test_differences_name_the_key(tiny_config):
    a = plan(load_config(tiny_config), SHA)[0]
    b = plan(load_config(tiny_config, ["protocol.epochs=5"]), SHA)[0]
    assert differences(a.identity, b.identity) == ["protocol.epochs: 2 in the result, 5 now"]


def test_protocol_defaults_are_valid_and_documented():
    p = Protocol()
    for name, field in Protocol.model_fields.items():
        # unset: batch order follows the seed; captured steps and static shapes follow the device (Protocol.on)
        assert getattr(p, name) is not None or name in ("data_seed", "cuda_graphs", "static_shapes")
        assert name not in ("cuda_graphs", "static_shapes") or "unset" in field.description
        if name not in ("device", "precision"):
            assert field.description, f"protocol.{name} needs a description (unit, range)"


def test_data_dir_in_a_config_is_relative_to_the_config_file(tmp_path, tiny_config, monkeypatch):
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "c.toml"
    path.write_text(tiny_config.read_text().replace("verify = false", 'verify = false\ndir = "../sst5"'))
    monkeypatch.chdir(tmp_path / "configs")
    assert load_config(path).data.dir == str(tmp_path / "sst5")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(path).data.dir == str(tmp_path / "sst5")
    assert load_config(path, ["data.dir='/abs/x'"]).data.dir == "/abs/x"  # --set is as typed


def test_the_random_players_of_seed_toml_use_the_hub_tokenizer_not_the_offline_package():
    config = load_config("seed")
    assert {p.model.tokenizer for p in config.players if p.model.kind == "random"} == {"distilbert-base-uncased"}
    assert {p.model.tokenizer for p in load_config("offline").players if p.model.kind == "random"} == {"bundled"}


def test_a_byte_order_mark_is_not_content(tmp_path, tiny_config):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + tiny_config.read_bytes())
    assert load_config(path).tournament.name == "tiny"


def test_no_tuning_plays_every_player_at_the_protocols_rate():
    """`run --no-tuning` leaves [tuning] out: the game's rule, every player at the protocol's rate, no trials."""
    from tuneoff.plan.jobs import plan

    tuned, untuned = load_config("zoo-robust"), load_config("zoo-robust", tuning=False)
    assert tuned.tuning is not None and untuned.tuning is None
    assert [p.name for p in tuned.players] == [p.name for p in untuned.players]
    jobs = plan(untuned, {"train": "a", "dev": "b", "test": "c"})
    assert len(jobs) == 13 * 3 and {j.protocol.learning_rate for j in jobs} == {untuned.protocol.learning_rate}
    assert all(j.tuning is None and "tuning" not in j.identity for j in jobs)
