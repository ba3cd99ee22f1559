import pytest
from conftest import tiny_model
from transformers import HfArgumentParser

from textmix import ArchSpec, MixConfig, Mixer


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 0}, "alpha must be a finite number > 0"),
        ({"alpha": -1.0}, "alpha must be"),
        ({"method": "cutout"}, "unknown mixing method"),
        ({"method": "span:x"}, "bad method weight"),
        ({"prob": 1.5}, "prob must be within"),
        ({"lam_mode": "elem"}, "lam_mode must be one of"),
        ({"partner": "random"}, "partner must be one of"),
        ({"layers": ()}, "at least one layer"),
        ({"layers": (-1,)}, "layers must be >= 0"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_bad_configuration_says_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixConfig(**kwargs)


def test_layer_out_of_range_names_the_depth():
    with pytest.raises(ValueError, match="this model has 3 layers.*within 0..3"):
        Mixer(tiny_model("bert"), MixConfig(method="hidden", layers=(7, 9, 12)))


def test_default_layers_are_the_upper_half():
    assert Mixer(tiny_model("bert"), MixConfig(method="hidden")).layers == [2, 3]
    assert Mixer(tiny_model("bert", num_hidden_layers=4), MixConfig(method="hidden")).layers == [2, 3, 4]


def test_method_weights_parse():
    assert MixConfig(method="span:2,hidden:1").method_weights == pytest.approx({"span": 2 / 3, "hidden": 1 / 3})
    assert MixConfig(method=["span", "pooled"]).method_weights == {"span": 0.5, "pooled": 0.5}
    assert MixConfig(method={"span": 1, "pooled": 0}).method == "span"
    assert MixConfig(method={"span": 2, "hidden": 1}).method == "span:2,hidden:1"


def test_fields_have_help_and_parse_from_the_command_line():
    parser = HfArgumentParser(MixConfig)
    (cfg,) = parser.parse_args_into_dataclasses(["--method", "span", "--alpha", "0.2", "--layers", "1", "2"])
    assert cfg.method == "span" and cfg.alpha == 0.2 and cfg.layers == [1, 2]
    for action in parser._actions[1:]:
        assert action.help, action.dest


def test_unsupported_architecture_names_the_override():
    from transformers import MPNetConfig, MPNetForSequenceClassification

    model = MPNetForSequenceClassification(MPNetConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                                       intermediate_size=37, vocab_size=50))
    with pytest.raises(ValueError, match="arch=ArchSpec"):
        Mixer(model, MixConfig(method="hidden", layers=(1,)))
    spec = ArchSpec(word_embeddings="mpnet.embeddings.word_embeddings", embeddings="mpnet.embeddings",
                    layers="mpnet.encoder.layer.*", head="classifier")
    mixer = Mixer(model, MixConfig(method="hidden", layers=(1,)), arch=spec)
    assert len(mixer.arch.layers) == 2


@pytest.mark.parametrize("method", ["embedding", "hidden", "pooled"])
def test_a_decoder_override_without_last_token_pooling_is_refused(method):
    """The GPT-2 override once shown in the README mixed wrong: `score` runs on every token (a row was
    pooled at its own last token, with the partner's token at that position), and GPT-2 blocks take the
    cache, not the mask, as their second argument. The table's GPT-2 entry says both; an override that
    does not is refused."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    model = GPT2ForSequenceClassification(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, pad_token_id=0))
    wrong = ArchSpec(word_embeddings="transformer.wte", embeddings="transformer.wte", layers="transformer.h.*",
                     head="score")
    with pytest.raises(ValueError, match="pooling='last'"):
        Mixer(model, MixConfig(method=method, layers=(1,)), arch=wrong)
    assert Mixer(model, MixConfig(method=method, layers=(1,))).arch.spec.pooling == "last"


@pytest.mark.parametrize("index, problem", [(0, r"is the hidden states \(6, 12, 32\)"),
                                            (2, r"is None, though the batch has padding")])
def test_an_override_whose_mask_argument_is_not_the_mask_is_an_error_on_the_first_forward(index, problem):
    """BERT layers take (hidden_states, attention_mask, ...): `layer_mask_arg=0` once blended the hidden
    states as if they were a mask (other logits, no error); 2 gave the union mask to nothing."""
    from dataclasses import replace

    from conftest import ragged_batch

    from textmix.architectures import spec_for

    model = tiny_model("bert")
    batch = ragged_batch(b=6, seed=1)
    wrong = replace(spec_for(model), layer_mask_arg=index)
    with Mixer(model, MixConfig(method="hidden", layers=(1,), seed=0), arch=wrong) as mixer:
        mb = mixer.mix(batch)
        with pytest.raises(ValueError, match=rf"ArchSpec.layer_mask_arg={index}: positional argument {index} of "
                                             rf"BertLayer {problem}, not its attention mask.*1: attention_mask"):
            model(**mb.inputs)
    with Mixer(model, MixConfig(method="hidden", layers=(1,), seed=0), arch=spec_for(model)) as mixer:
        mb = mixer.mix(batch)
        model(**mb.inputs)  # the right position: no error


def test_bad_override_path_is_named():
    with pytest.raises(ValueError, match="'bert.nope' not found"):
        Mixer(tiny_model("bert"), MixConfig(method="pooled"), arch={"head": "bert.nope"})
