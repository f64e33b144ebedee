"""The shared backbone: token embedding -> stacked recurrent layers -> hidden states.

Read top to bottom: dropout helpers, one recurrent layer, a stack of layers (one reading
direction), and the backbone that owns the embedding and one stack per direction.

The seed model is the classic RNN language model

    x_t = embedding(w_t);   h_t = f(W_hh h_{t-1} + W_hx x_t + b);   p(w_{t+1}) = softmax(W_ho h_t + b)

and the AWD-LSTM regularisers (Merity et al. 2017) are options with CPU-friendly defaults:
embedding dropout, locked (variational) dropout, and weight dropout on the recurrent matrices.
Tensors are batch-first: (B, T, ...) with B = batch, T = time.

Where a text starts (one rule for every encoder, generator and scorer; `RNNBackbone.start`):
from the state after reading a single </s> from a zero state. Pretraining reads one stream in
which every line follows a </s> (the previous line's end) with the state carried across it, so
"just after a </s>" is the one place the LM has learned that a new line begins; a zero state
alone it met only at the first token of an epoch. The backward stack reads the reversed stream,
where a line's last token also follows a </s> (its own end), so the same rule holds there.
`forward` and `step` with `state=None` start from zeros: they are the low-level calls under it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlp_apps.configs import config_from_dict, config_to_dict
from nlp_apps.data.tokenizer import EOS_ID

CELLS = ("rnn", "gru", "lstm")
ACTIVATIONS = ("tanh", "relu", "sigmoid")
DIRECTIONS = ("forward", "backward")
STACK_KEYS = {"forward": "fwd", "backward": "bwd"}  # "forward" cannot name a submodule
START_ID = EOS_ID  # every text starts after one </s> (see the module docstring)
DROPOUT_FIELDS = ("embed_dropout", "input_dropout", "hidden_dropout", "output_dropout", "weight_dropout")

# An LSTM layer's state is (h, c); a GRU or plain RNN layer's state is h. Each is (1, B, H).
LayerState = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]
StackState = list[LayerState]


@dataclass
class BackboneConfig:
    """Architecture of the backbone. Defaults suit a laptop CPU."""

    vocab_size: int = 8000
    cell: str = "lstm"  # rnn | gru | lstm
    activation: str = "tanh"  # only for cell=rnn: tanh | relu | sigmoid
    num_layers: int = 2
    emb_size: int = 256
    hidden_size: int = 768
    tie_weights: bool = True  # the LM decoder reuses the embedding; last layer outputs emb_size
    bidirectional: bool = False  # also a backward stack (reads text right to left), ELMo style
    embed_dropout: float = 0.0  # drop whole word types from the embedding matrix
    input_dropout: float = 0.1  # locked dropout on the embeddings
    hidden_dropout: float = 0.1  # locked dropout between layers
    output_dropout: float = 0.1  # locked dropout on the top layer's output
    weight_dropout: float = 0.0  # DropConnect on the recurrent (hidden-to-hidden) matrices
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if self.cell != "rnn" and self.activation != "tanh":
            raise ValueError(f"activation applies to cell 'rnn' only, not {self.cell!r}")
        for name in ("vocab_size", "num_layers", "emb_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("embed_dropout", "input_dropout", "hidden_dropout", "output_dropout", "weight_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def directions(self) -> tuple[str, ...]:
        return DIRECTIONS if self.bidirectional else DIRECTIONS[:1]

    @property
    def output_size(self) -> int:
        return self.emb_size if self.tie_weights else self.hidden_size

    def layer_sizes(self) -> list[tuple[int, int]]:
        """(input size, output size) of each recurrent layer."""
        sizes = []
        for i in range(self.num_layers):
            n_in = self.emb_size if i == 0 else self.hidden_size
            n_out = self.output_size if i == self.num_layers - 1 else self.hidden_size
            sizes.append((n_in, n_out))
        return sizes

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> BackboneConfig:
        return config_from_dict(cls, values, source=source)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Variational dropout: one mask per sequence, shared by all time steps. x: (B, T, H)."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - p) / (1 - p)  # (B, 1, H)
    return x * mask


def embedding_dropout(weight: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Drop whole rows (word types) of the embedding matrix. weight: (V, E)."""
    if not training or p == 0.0:
        return weight
    mask = weight.new_empty(weight.size(0), 1).bernoulli_(1 - p) / (1 - p)  # (V, 1)
    return weight * mask


class ElmanRNN(nn.Module):
    """A one-layer plain RNN with any activation, h_t = f(W_hh h_{t-1} + W_hx x_t + b).

    nn.RNN covers tanh and relu; this covers sigmoid (the seed's third choice). Parameter
    names match nn.RNN, so weight dropout treats both alike.
    """

    def __init__(self, input_size: int, hidden_size: int, activation: str):
        super().__init__()
        self.hidden_size = hidden_size
        self.activation = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
        self.weight_ih_l0 = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(hidden_size))
        bound = hidden_size**-0.5
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # lengths (B,): like a packed sequence, row b stops after lengths[b] steps (zero outputs after)
        batch, steps, _ = x.shape
        h_t = x.new_zeros(batch, self.hidden_size) if h is None else h[0]  # (B, H)
        projected = F.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)  # (B, T, H), all steps at once
        outputs = []
        for t in range(steps):
            new = self.activation(projected[:, t] + F.linear(h_t, self.weight_hh_l0))  # (B, H)
            if lengths is None:
                h_t = new
                outputs.append(h_t)
            else:
                live = (t < lengths).unsqueeze(1)  # (B, 1)
                h_t = torch.where(live, new, h_t)
                outputs.append(new * live)
        return torch.stack(outputs, dim=1), h_t.unsqueeze(0)  # (B, T, H), (1, B, H)


class RecurrentLayer(nn.Module):
    """One recurrent layer with optional weight dropout on its hidden-to-hidden matrix."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, activation: str, weight_dropout: float):
        super().__init__()
        self.weight_dropout = weight_dropout
        if cell == "lstm":
            self.rnn: nn.Module = nn.LSTM(input_size, hidden_size, batch_first=True)
        elif cell == "gru":
            self.rnn = nn.GRU(input_size, hidden_size, batch_first=True)
        elif activation in ("tanh", "relu"):
            self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=activation, batch_first=True)
        else:
            self.rnn = ElmanRNN(input_size, hidden_size, activation)

    def forward(
        self, x: torch.Tensor, state: LayerState | None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        # x: (B, T, H_in) -> (B, T, H_out). With lengths (B,), row b reads only its first lengths[b]
        # steps: the state returned is the one after them, and the outputs after them are zeros.
        # Under bf16 autocast the recurrence runs in bf16 too (the input, gate matmuls and states);
        # `nlp_apps.precision` chooses bf16 only where that is clearly faster (AMX, CUDA).
        weights = {}
        if self.training and self.weight_dropout > 0:
            weights["weight_hh_l0"] = F.dropout(self.rnn.weight_hh_l0, self.weight_dropout, training=True)
        if lengths is None:
            return self._run(weights, x, state)
        if isinstance(self.rnn, ElmanRNN):
            return self._run(weights, x, state, lengths=lengths.to(x.device))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, new_state = self._run(weights, packed, state)
        return pad_packed_sequence(outputs, batch_first=True, total_length=x.size(1))[0], new_state

    def _run(self, weights: dict, *args, **kwargs):
        return functional_call(self.rnn, weights, args, kwargs) if weights else self.rnn(*args, **kwargs)


class RNNStack(nn.Module):
    """The recurrent layers that read in one direction, with locked dropout between them."""

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.hidden_dropout = config.hidden_dropout
        self.layers = nn.ModuleList(
            RecurrentLayer(config.cell, n_in, n_out, config.activation, config.weight_dropout)
            for n_in, n_out in config.layer_sizes()
        )

    def forward(
        self, x: torch.Tensor, state: StackState | None = None, lengths: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], StackState]:
        # x: (B, T, E) -> one (B, T, H_l) output per layer, before any dropout on the top one
        outputs, new_state = [], []
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = locked_dropout(x, self.hidden_dropout, self.training)
            x, layer_state = layer(x, None if state is None else state[i], lengths)
            outputs.append(x)
            new_state.append(layer_state)
        return outputs, new_state


@dataclass
class BackboneOutput:
    last_hidden_state: torch.Tensor  # (B, T, output_size), after output dropout
    layer_outputs: list[torch.Tensor] = field(default_factory=list)  # per layer: (B, T, H_l)
    state: StackState = field(default_factory=list)  # recurrent state to carry into the next chunk
    # (with lengths: each row's state after its last real token)


class RNNBackbone(nn.Module):
    """Embedding + one stack of recurrent layers per reading direction.

    The embedding is shared by both directions (and, with tie_weights, by the LM decoder).
    A backward stack reads its input as given: the caller reverses the text (see `encode`).

    Three ways in: `forward` runs a (B, T) chunk and carries a state (BPTT streams, language
    modelling); `encode` reads whole padded texts in every direction from the start state;
    `start` and `step` read one token per row at a time (a decoder, sampling, beam search:
    reorder beams with `map_state(state, lambda t: t.index_select(1, beam_index))`).
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.emb_size, padding_idx=config.pad_id)
        self.stacks = nn.ModuleDict({STACK_KEYS[d]: RNNStack(config) for d in config.directions})
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[config.pad_id].zero_()

    @property
    def output_size(self) -> int:
        return self.config.output_size

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens: (B, T) -> (B, T, E)
        weight = embedding_dropout(self.embedding.weight, self.config.embed_dropout, self.training)
        x = F.embedding(tokens, weight, padding_idx=self.config.pad_id)
        return locked_dropout(x, self.config.input_dropout, self.training)

    def forward(
        self,
        tokens: torch.Tensor,
        state: StackState | None = None,
        direction: str = "forward",
        lengths: torch.Tensor | None = None,
    ) -> BackboneOutput:
        """Run one direction's stack over `tokens` (B, T), in the order given, from `state` (None: zeros).

        With `lengths` (B,), row b is only its first lengths[b] tokens (right padding is never
        read): the state returned is each row's state after its last real token.
        """
        if direction not in self.config.directions:
            raise ValueError(f"this backbone has no {direction!r} stack (it has: {', '.join(self.config.directions)})")
        if lengths is not None:
            lengths = check_lengths(lengths, tokens)
            if bool((lengths == tokens.size(1)).all()):
                lengths = None  # nothing padded: the plain (faster) path gives the same
        return self.forward_embedded(self.embed(tokens), state, direction, lengths)

    def forward_embedded(
        self,
        embedded: torch.Tensor,
        state: StackState | None = None,
        direction: str = "forward",
        lengths: torch.Tensor | None = None,
    ) -> BackboneOutput:
        """`forward` from inputs already embedded (B, T, E): a decoder adds its own input (attention
        feeding) to the embeddings before the recurrent layers."""
        layer_outputs, new_state = self.stacks[STACK_KEYS[direction]](embedded, state, lengths)
        top = locked_dropout(layer_outputs[-1], self.config.output_dropout, self.training)  # (B, T, O)
        return BackboneOutput(last_hidden_state=top, layer_outputs=layer_outputs, state=new_state)

    def start(self, batch_size: int, direction: str = "forward") -> tuple[torch.Tensor, StackState]:
        """Begin `batch_size` texts: read one </s> per row from a zero state (the start-state rule of
        the module docstring). -> top-layer output (B, O), which predicts each text's first token, and
        the state to read the text from."""
        tokens = torch.full((batch_size,), START_ID, dtype=torch.long, device=self.embedding.weight.device)
        return self.step(tokens, None, direction)

    def initial_state(self, batch_size: int, direction: str = "forward") -> StackState:
        """The state every text starts from (see `start`)."""
        return self.start(batch_size, direction)[1]

    def step(
        self, tokens: torch.Tensor, state: StackState | None, direction: str = "forward"
    ) -> tuple[torch.Tensor, StackState]:
        """Read one token per row: tokens (B,) and the carried state -> top-layer output (B, O) and
        the new state. Equal to `forward` over the same tokens one column at a time."""
        out = self(tokens.unsqueeze(1), state, direction)  # (B, 1, O)
        return out.last_hidden_state[:, 0], out.state

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """The parameters from the bottom, for discriminative rates and gradual unfreezing: the embedding, then
        each depth (all directions)."""
        groups = [[self.embedding.weight]]
        for depth in range(self.config.num_layers):
            groups.append([p for stack in self.stacks.values() for p in stack.layers[depth].parameters()])
        return groups

    def encode(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        initial_state: dict[str, StackState] | None = None,
        final_state: bool = True,
    ) -> dict[str, BackboneOutput]:
        """Encode right-padded texts in every direction, outputs aligned to the input positions.

        tokens: (B, T) padded at the end; lengths: (B,), each in 1..T. Each direction starts from
        the start state (`initial_state()`), or from `initial_state[direction]` where that key is
        given (None there: zeros, as in `forward`).
        Returns {direction: BackboneOutput}: `last_hidden_state` (B, T, O) and `layer_outputs`
        (per layer (B, T, H_l)), where position t of every direction describes token t and
        padding positions are zeros; `state` is each row's final state at its true length: for
        "forward" after its last token, for "backward" after its first. The backward stack reads
        each row's real tokens from last to first and never reads the padding.

        With `final_state=False` the outputs are the same but `state` is None: each stack then reads
        the padded rows whole (the padding comes after a row's real tokens in both directions, so it
        cannot change them), which is 2-3x faster on a CPU than packed sequences.
        """
        lengths = check_lengths(lengths, tokens)
        starts = dict(initial_state or {})
        unknown = sorted(set(starts) - set(self.config.directions))
        if unknown:
            raise ValueError(f"initial_state names {', '.join(unknown)}, but this backbone reads only: {', '.join(self.config.directions)}")
        read_lengths = lengths if final_state else None
        real = None if final_state else (torch.arange(tokens.size(1), device=tokens.device) < lengths.unsqueeze(1)).unsqueeze(-1)
        outputs = {}
        for direction in self.config.directions:
            state = starts[direction] if direction in starts else self.initial_state(tokens.size(0), direction)
            read = tokens if direction == "forward" else reverse_padded(tokens, lengths)  # backward: real tokens last to first
            out = self(read, state, direction, read_lengths)
            hidden, layers = out.last_hidden_state, out.layer_outputs
            if real is not None:  # zero the padding, as the packed path leaves it
                hidden, layers = hidden * real, [h * real for h in layers]
            if direction == "backward":
                hidden, layers = reverse_padded(hidden, lengths), [reverse_padded(h, lengths) for h in layers]
            outputs[direction] = BackboneOutput(last_hidden_state=hidden, layer_outputs=layers, state=out.state if final_state else None)
        return outputs

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, **overrides) -> RNNBackbone:
        """Load a backbone from a model directory; no path loads the shipped default.

        `overrides` change dropout settings for fine-tuning (embed_dropout, input_dropout,
        hidden_dropout, output_dropout, weight_dropout); the weights are the pretrained ones.
        """
        from nlp_apps.io.checkpoint import load_backbone

        backbone = load_backbone(path)
        if not overrides:
            return backbone
        unknown = sorted(set(overrides) - set(DROPOUT_FIELDS))
        if unknown:
            raise ValueError(f"from_pretrained can override only {', '.join(DROPOUT_FIELDS)}; got {', '.join(unknown)}")
        tuned = cls(BackboneConfig.from_dict({**backbone.config.to_dict(), **overrides}))
        tuned.load_state_dict(backbone.state_dict())
        return tuned

    def save_pretrained(self, path: str | os.PathLike, tokenizer=None) -> None:
        from nlp_apps.io.checkpoint import save_model

        save_model(path, model_type="backbone", backbone_config=self.config, model=self, tokenizer=tokenizer)


def check_lengths(lengths: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """`lengths` as a (B,) long tensor on the tokens' device, each in 1..T; a clear error otherwise."""
    lengths = torch.as_tensor(lengths, dtype=torch.long, device=tokens.device)
    if lengths.shape != tokens.shape[:1]:
        raise ValueError(f"lengths must have shape ({tokens.size(0)},), one per row of tokens; got {tuple(lengths.shape)}")
    if len(lengths) and not (1 <= int(lengths.min()) and int(lengths.max()) <= tokens.size(1)):
        raise ValueError(f"every length must be in 1..{tokens.size(1)} (the tokens' width); got {lengths.tolist()}")
    return lengths


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `lengths[b]` steps and leave its padding in place. x: (B, T, ...)."""
    steps = x.size(1)
    positions = torch.arange(steps, device=x.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T)
    if x.dim() > 2:
        index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def map_state(state: StackState | None, fn) -> StackState | None:
    """fn applied to every tensor of a stack state (per layer: a tensor, or an (h, c) tuple).

    Each tensor is (1, B, H): batch rows are dim 1, e.g. `lambda t: t.index_select(1, index)`."""
    if state is None:
        return None
    return [tuple(fn(s) for s in layer) if isinstance(layer, (tuple, list)) else fn(layer) for layer in state]


def detach_state(state: StackState | None) -> StackState | None:
    """Cut the graph between BPTT segments while keeping the values."""
    return map_state(state, torch.Tensor.detach)


def concat_state_rows(states: list[StackState]) -> StackState:
    """Stack states of the same layers joined along their batch rows (each tensor is (1, B, H))."""
    joined = []
    for i, layer in enumerate(states[0]):
        if isinstance(layer, (tuple, list)):
            joined.append(tuple(torch.cat([s[i][j] for s in states], dim=1) for j in range(len(layer))))
        else:
            joined.append(torch.cat([s[i] for s in states], dim=1))
    return joined


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

