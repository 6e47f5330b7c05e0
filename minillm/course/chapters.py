"""The course map: chapters in teaching order, each with its notebook, the formula IDs it covers,
and its exercises (marked regions of the library, BEGIN EXERCISE <ID>) with the tests that grade
them. docs/teaching.md is written from this table; a test keeps the two, the markers and the
tests in agreement."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Chapter:
    title: str
    notebook: str  # notebooks/<notebook>.py / .ipynb
    week: int  # in the suggested 12-week order
    formulas: tuple  # the IDs the chapter's notebook shows
    exercises: dict = field(default_factory=dict)  # exercise ID -> test node IDs that grade it
    prerequisites: tuple = ()  # chapters to do first


ENGINE = "tests/engine/"  # the folder of the engine's tests
CHAPTERS = {
    "autograd": Chapter(
        "Autograd: a Tensor that records its operations",
        "01_autograd",
        1,
        ("F17",),
        {
            "F17": [
                f"{ENGINE}test_ops_formulas.py::test_F17_softmax_backward_is_the_jacobian_vector_product",
                f"{ENGINE}test_hand_backward.py::test_softmax_hand_backward_equals_autograd",
            ],
        },
    ),
    "attention": Chapter(
        "Attention: scores, masks, softmax, weighted values",
        "02_attention",
        2,
        ("F5", "F13", "F14", "F15", "F16", "F17", "F18", "F19"),
        {
            "F5": [
                f"{ENGINE}test_ops_formulas.py::test_F5_attention_matches_loop",
                f"{ENGINE}test_ops_formulas.py::test_F5_causal_output_at_t_ignores_tokens_after_t",
            ],
        },
        ("autograd",),
    ),
    "transformer": Chapter(
        "The Transformer: layer norm, feed-forward, positions, encoder and decoder",
        "03_transformer",
        3,
        ("F4", "F20", "C13", "C14", "C15"),
        {
            "C14": [
                f"{ENGINE}test_hand_backward.py::test_layer_norm_hand_backward_equals_autograd"
            ],
            "F20": [
                "tests/transformer/test_transformer_positional.py::"
                "test_F20_table_matches_formula_elementwise"
            ],
        },
        ("attention",),
    ),
    "rnn": Chapter(
        "The RNN family: Elman, LSTM, GRU",
        "04_rnn",
        4,
        ("F2", "F3", "C11"),
        {
            "F2": ["tests/rnn/test_rnn_cells.py::test_F2_rnn_cell_matches_equation"],
            "C11": ["tests/rnn/test_rnn_cells.py::test_C11_lstm_cell_matches_equations"],
        },
        ("autograd",),
    ),
    "language-modeling": Chapter(
        "Language modelling: tokenizers, next-token prediction, perplexity",
        "05_language_modeling",
        5,
        ("F1", "F3", "F9"),
        {
            "BPE": [
                "tests/data/test_bpe_train.py::test_merge_pair_is_left_to_right_and_non_overlapping",
                "tests/data/test_bpe_train.py::test_wikipedia_example_aaabdaaabac_merges_by_hand",
            ]
        },
        ("rnn",),
    ),
    "gpt": Chapter(
        "GPT: training, AdamW and its schedule, sampling",
        "06_gpt",
        6,
        ("F1", "F9", "F12", "C1", "C2", "C9", "C19", "C21", "C22", "C24"),
        {
            "C21": [
                "tests/optim/test_optim_adam.py::test_C21_adam_three_steps_by_hand",
                "tests/optim/test_optim_adam.py::test_C21_adamw_decoupled_decay_then_adam_by_hand",
            ],
            "C19": [
                "tests/lm/test_lm_generate.py::test_C19_top_p_keeps_smallest_set",
                "tests/lm/test_lm_generate.py::test_C19_top_p_set_is_minimal_and_most_likely",
            ],
        },
        ("transformer", "language-modeling"),
    ),
    "bert": Chapter(
        "BERT: WordPiece, masked-LM and next-sentence pre-training",
        "09_bert",
        8,
        ("F6", "F7", "C12"),
        {
            "C12": [
                "tests/data/test_mlm.py::test_C12_masking_proportions_15_80_10_10_over_many_draws",
                "tests/data/test_mlm.py::"
                "test_C12_specials_and_padding_are_never_selected_and_labels_hold_the_originals",
                "tests/data/test_mlm.py::test_C12_random_replacements_are_ordinary_tokens",
            ],
        },
        ("gpt",),
    ),
    "finetuning": Chapter(
        "Fine-tuning: full, linear probing, adapters, LoRA, prefix tuning",
        "11_finetuning",
        10,
        ("F10", "F11", "C16", "C21"),
        {
            "C16": [
                "tests/peft/test_lora.py::test_C16_lora_forward_matches_equation",
                "tests/peft/test_lora.py::test_C16_lora_with_B_zero_is_the_base_layer",
            ],
        },
        ("gpt",),
    ),
}


def chapter(name: str) -> Chapter:
    if name not in CHAPTERS:
        raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(CHAPTERS)}")
    return CHAPTERS[name]


def course_map() -> str:
    """The Markdown table of docs/teaching.md's course map, written from CHAPTERS."""
    rows = [
        "| week | chapter | notebook | formulas | exercises (graded by) | after |",
        "|---|---|---|---|---|---|",
    ]
    for name, ch in CHAPTERS.items():
        graded = "; ".join(
            f"{ex} ({', '.join(n.split('::')[1] for n in nodes)})"
            for ex, nodes in ch.exercises.items()
        )
        after = ", ".join(ch.prerequisites) or "-"
        rows.append(
            f"| {ch.week} | `{name}`: {ch.title} | `{ch.notebook}` | {', '.join(ch.formulas)} | "
            f"{graded} | {after} |"
        )
    return "\n".join(rows)
