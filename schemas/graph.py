"""Graphs: `residual` and `parallel` in a layer list, `from:`, several inputs and outputs, as wired nodes.

A plain list of layers is a `Sequential` model. A model that uses `residual`, `parallel`, `from:`,
a merging layer, `inputs:` or `outputs:` is a graph: `plan` wires it into nodes (one per Keras
layer, each naming the nodes it takes) and finds, without TensorFlow, the mistakes in its wiring:
an unknown `from` name, a cycle, a layer or input nothing uses, `outputs` naming nothing. The
compiler builds the Keras functional model from the same nodes (factory/build/graph.py).

Names are scoped: a name given inside a `residual` or `parallel` is seen there (and in what it
nests), not outside; two constructs may name their layers alike, and such names are then prefixed
with their constructs' names (`residual2_conv`) to make Keras's names. A name given once stays as
written.
"""


import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from schemas.base import suggestion
from schemas.constructs import MERGES, Construct, Residual
from schemas.layers import MERGING_LAYERS, Input, layer_class

# Layers that take several inputs without merging them, and how Keras calls them: Attention on the
# list [query, value(, key)], MultiHeadAttention on positional arguments query, value(, key).
ATTENTION = {"Attention": "list", "AdditiveAttention": "list", "MultiHeadAttention": "positional",
             "GroupQueryAttention": "positional"}

@dataclass(frozen=True)
class Node:
    """One Keras layer of a graph (or one input) and the nodes whose outputs it takes."""

    args: Any  # the layer's spec (an Input for an input)
    sources: tuple[int, ...]
    name: Optional[str]  # its Keras name, scoped; None: Keras names it
    loc: tuple  # where it is written, below the model: ("layers", 1, "residual", "layers", 0)
    entry: int  # the model's layer it belongs to (its index in `layers`); -1 for an input
    takes_list: bool  # a merging layer (or Attention): called on the list of its sources
    trainable: bool = True
    construct: Any = None  # the residual or parallel this node merges, if it does
    positional: bool = False  # called on its sources as positional arguments (MultiHeadAttention)

    @property
    def is_input(self) -> bool:
        return self.entry < 0


@dataclass(frozen=True)
class Graph:
    """A model's nodes, in an order that builds each after its sources, and its inputs and outputs."""

    nodes: tuple[Node, ...]
    inputs: dict[str, int]  # input name -> node
    outputs: dict[str, int]  # output name -> node
    order: tuple[int, ...]


def is_graph(model: Any) -> bool:
    """Whether `model` needs the functional API: anything but a plain list of single-input layers."""
    if getattr(model, "inputs", None) or getattr(model, "outputs", None):
        return True
    return any(isinstance(e.args, (Construct, *MERGING_LAYERS)) or e.args.from_ is not None
               or e.args.keras_class in ATTENTION for e in model.layers)


@dataclass
class _Scope:
    prefix: str  # of the Keras names given inside
    parent: Optional["_Scope"] = None
    names: dict[str, int] = field(default_factory=dict)

    def find(self, name: str) -> Optional[int]:
        scope = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        scope, seen = self, []
        while scope is not None:
            seen += [n for n in scope.names if n not in seen]
            scope = scope.parent
        return seen


@dataclass(frozen=True)
class _Ref:
    """A name in `from` (or `outputs`), resolved once every name of the model is known."""

    name: str
    scope: _Scope
    loc: tuple


def plan(model: Any) -> tuple[Optional[Graph], list[tuple[tuple, str]]]:
    """Wire `model`'s layers into a graph; return it (None if it cannot be wired) and the mistakes.

    Each mistake is (its location below the model, the message), as `fail_at` takes them.
    """
    return _Planner(model).run()


class _Planner:
    def __init__(self, model: Any):
        self.model = model
        self.nodes: list[dict] = []
        self.problems: list[tuple[tuple, str]] = []
        self.root = _Scope(prefix="")
        self.scopes: list[tuple[_Scope, tuple, Construct]] = []  # each construct's scopes, where it is, itself
        self.implicit: Optional[int] = None  # the input of a model without `inputs:`, named `input`

    def run(self) -> tuple[Optional[Graph], list[tuple[tuple, str]]]:
        layers = list(self.model.layers)
        inputs: dict[str, int] = {}
        start = 0
        if self.model.inputs:
            for name, entry in self.model.inputs.items():
                shape = getattr(entry, "shape", entry)  # `{shape: [...], dtype: int32}` or the shape alone
                inputs[name] = self._node(Input(shape=shape), [], name, ("inputs", name), -1, self.root)
        else:
            first = layers[0].args
            shape = first.shape if isinstance(first, Input) else self.model.declared_input_shape
            name = first.name if isinstance(first, Input) and first.name else "input"
            start = 1 if isinstance(first, Input) else 0
            inputs[name] = self._node(Input(shape=shape) if shape else None, [], name,
                                      ("layers", 0) if start else ("input_shape",), -1, self.root)
            if not start:
                self.implicit = inputs[name]  # `from: input` takes it, unless a layer is named `input`
        incoming = inputs[next(iter(inputs))] if len(inputs) == 1 else None
        last = self._walk(layers[start:], ("layers",), incoming, self.root, start=start)
        if not self.model.inputs and not start:
            inputs = self._rename_implicit_input(inputs)
        outputs = self._outputs(last)
        if self.problems:
            return None, self.problems
        sources = [[self._resolve(s) for s in node["sources"]] for node in self.nodes]
        outputs = {k: self._resolve(v) for k, v in outputs.items()}
        if self.problems:
            return None, self.problems
        order = self._order(sources)
        if order is None:
            return None, self.problems
        names = self._keras_names()
        nodes = tuple(Node(n["args"], tuple(s), name, n["loc"], n["entry"], n["takes_list"], n["trainable"],
                           n["construct"], n["positional"]) for n, s, name in zip(self.nodes, sources, names))
        self._unused(nodes, inputs, outputs)
        if self.problems:
            return None, self.problems
        return Graph(nodes, inputs, outputs, order), []

    def _node(self, args, sources: list, name: Optional[str], loc: tuple, entry: int, scope: _Scope,
              takes_list: bool = False, trainable: bool = True, construct: Any = None,
              positional: bool = False) -> int:
        index = len(self.nodes)
        if name is not None:
            if name in scope.names and scope.names[name] != self.implicit:
                self.problems.append((loc + ("name",) if entry >= 0 else loc,
                                      f"two layers or inputs are named '{name}'; names must differ"))
            scope.names[name] = index
        self.nodes.append(dict(args=args, sources=sources, name=name, scoped=scope.prefix, loc=loc, entry=entry,
                               takes_list=takes_list, trainable=trainable, construct=construct,
                               positional=positional))
        return index

    def _rename_implicit_input(self, inputs: dict[str, int]) -> dict[str, int]:
        """The one unnamed input is `input`, or `input_1`, ... where a layer is named `input` already."""
        (name, index), = inputs.items()
        taken = {n["name"] for i, n in enumerate(self.nodes) if i != index and n["name"] is not None}
        free, k = name, 0
        while free in taken:
            k += 1
            free = f"{name}_{k}"
        self.nodes[index]["name"] = free
        return {free: index}

    def _keras_names(self) -> list[Optional[str]]:
        """Each node's Keras name: as written where given once in the model, else prefixed with its
        constructs' names (`residual2_conv`), never a name another node is given or already has."""
        given = Counter(n["name"] for n in self.nodes if n["name"] is not None)
        inputs = {n["name"] for n in self.nodes if n["entry"] < 0}
        used = {name for name, k in given.items() if k == 1} | inputs
        names = []
        for node in self.nodes:
            name = node["name"]
            if name is None or given[name] == 1 or node["entry"] < 0:
                names.append(name)
                continue
            base = free = node["scoped"] + name
            k = 0
            while free in used:  # a name the user wrote elsewhere (`residual1_inner`) stays the user's
                k += 1
                free = f"{base}_{k}"
            used.add(free)
            names.append(free)
        return names

    def _walk(self, items: list, at: tuple, incoming: Any, scope: _Scope, start: int = 0,
              entry: Optional[int] = None, trainable: bool = True) -> Any:
        """Add the nodes of a layer list whose first layer takes `incoming`; return its last output."""
        previous = incoming
        for i, item in enumerate(items, start=start):
            args = item.args
            loc = at + (i,)
            inside = loc + (next(iter(item.model_fields_set)),)  # where its arguments are
            top = i if entry is None else entry
            if args.from_ is not None:
                names = [args.from_] if isinstance(args.from_, str) else list(args.from_)
                where = [inside + ("from",)] if isinstance(args.from_, str) else \
                    [inside + ("from", j) for j in range(len(names))]
                sources = [_Ref(n, scope, w) for n, w in zip(names, where)]
            elif previous is not None:
                sources = [previous]
            else:
                inputs = ", ".join(self.model.inputs or ())
                self.problems.append((loc, f"this layer takes no input: the model has several inputs "
                                           f"({inputs}); say which with `from:`"))
                sources = []
            if isinstance(args, Input):
                self.problems.append((inside, "the model names its inputs in `inputs:`; leave the Input "
                                              "layer out" if self.model.inputs else
                                              "Input can only be the first layer; name several inputs "
                                              "in the model's `inputs:`"))
                continue
            merging = isinstance(args, MERGING_LAYERS)
            attention = ATTENTION.get(args.keras_class)
            if attention and not 2 <= len(sources) <= 3:
                self.problems.append((inside + (("from",) if args.from_ is not None else ()),
                                      f"{args.keras_class} takes a query and a value (and a key): name them with "
                                      "`from: [query, value]` (`from: [x, x]` attends x to itself)"))
            elif len(sources) > 1 and not merging and not attention:
                self.problems.append((inside + ("from",), f"{args.keras_class} takes one input, but "
                                                          f"`from` names {len(sources)}; merge them first "
                                                          "(Concatenate, Add, ...)"))
                sources = sources[:1]
            # without `from` (the previous layer only) the dry build says so: the form alone is valid
            if merging and args.from_ is not None and len(sources) < 2:
                self.problems.append((inside, f"{args.keras_class} merges two or more inputs; name them with "
                                              "`from: [a, b]`"))
            alive = trainable and args.trainable
            if isinstance(args, Construct):
                previous = self._construct(args, sources, inside, scope, top, alive)
            else:
                previous = self._node(args, sources, args.name, loc, top, scope, merging or attention == "list",
                                      alive, positional=attention == "positional")
        return previous

    def _construct(self, args: Construct, sources: list, at: tuple, scope: _Scope, entry: int,
                   trainable: bool) -> int:
        x = sources[0] if sources else None
        inner = _Scope(prefix=f"{scope.prefix}{args.name or f'{args.kind}{at[-2]}'}_", parent=scope)
        self.scopes.append((inner, at[:-1], args))
        if isinstance(args, Residual):
            body = self._walk(args.layers, at + ("layers",), x, inner, entry=entry, trainable=trainable)
            skip = (self._walk(args.shortcut, at + ("shortcut",), x, inner, entry=entry, trainable=trainable)
                    if args.shortcut else x)
            merged = [skip, body]
        else:
            branches = [_Scope(f"{inner.prefix}branch{b}_", inner) for b in range(len(args.branches))]
            self.scopes += [(branch, at[:-1], args) for branch in branches]
            merged = [self._walk(branch, at + ("branches", b), x, branches[b], entry=entry, trainable=trainable)
                      for b, branch in enumerate(args.branches)]
        return self._node(layer_class(MERGES[args.merge])(), merged, args.name, at[:-1], entry, scope, True, trainable, args)

    def _outputs(self, last: Any) -> dict[str, Any]:
        if not self.model.outputs:
            return {"output": last}
        first: dict[str, int] = {}
        for j, name in enumerate(self.model.outputs):
            if name in first:
                self.problems.append((("outputs", j), f"`outputs` names '{name}' twice (also at outputs[{first[name]}]); "
                                                      "list each output once"))
            first.setdefault(name, j)
        return {name: _Ref(name, self.root, ("outputs", j)) for name, j in first.items()}

    def _resolve(self, ref: Any) -> int:
        if not isinstance(ref, _Ref):
            return ref
        found = ref.scope.find(ref.name)
        if found is None:
            known = [n for n in ref.scope.visible() if ref.scope.find(n) != self.implicit]  # `input`: not written
            what = "`outputs`" if ref.loc[0] == "outputs" else "`from`"
            hidden = next(((at, c) for scope, at, c in self.scopes if ref.name in scope.names), None)
            if hidden is not None:
                at, construct = hidden
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in at).lstrip(".")
                written = f"outputs: [{construct.name}]" if what == "`outputs`" else f"from: {construct.name}"
                read = f"by its name (`{written}`)" if construct.name else "once you give it a `name:`"
                self.problems.append((ref.loc, f"{what} names '{ref.name}', which is named inside the {construct.kind} "
                                               f"at {where}: such a name is seen only inside it; outside, read the "
                                               f"{construct.kind}'s output {read}"))
                return -1
            hint = suggestion(ref.name, known) or (f"; known: {', '.join(known)}" if known else
                                                   "; no layer or input has a name (`name:`)")
            self.problems.append((ref.loc, f"{what} names '{ref.name}', which is no layer or input "
                                           f"here{hint}"))
            return -1
        return found

    def _order(self, sources: list[list[int]]) -> Optional[tuple[int, ...]]:
        """The nodes in an order that builds each after its sources (the written order where it can)."""
        waiting = [len(s) for s in sources]
        takers: list[list[int]] = [[] for _ in sources]
        for i, srcs in enumerate(sources):
            for s in srcs:
                takers[s].append(i)
        ready = [i for i, n in enumerate(waiting) if n == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for t in takers[i]:
                waiting[t] -= 1
                if waiting[t] == 0:
                    heapq.heappush(ready, t)
        if len(order) == len(sources):
            return tuple(order)
        self._cycle(sources, set(range(len(sources))) - set(order))
        return None

    def _cycle(self, sources: list[list[int]], stuck: set[int]) -> None:
        path, node = [], min(stuck)
        while node not in path:
            path.append(node)
            node = next(s for s in sources[node] if s in stuck)
        cycle = path[path.index(node):]
        names = [self._label(i) for i in reversed(cycle)]
        at = next((i for i in cycle if self.nodes[i]["args"] is not None
                   and getattr(self.nodes[i]["args"], "from_", None) is not None), cycle[0])
        loc = self.nodes[at]["loc"]
        self.problems.append((loc, "the layers take each other's outputs in a cycle (each feeds the next): "
                                   + " -> ".join(names + names[:1])))

    def _label(self, i: int) -> str:
        node = self.nodes[i]
        args = node["args"]
        written = args.name if args is not None and getattr(args, "name", None) else None
        kind = args.keras_class if args is not None else "InputLayer"
        return f"'{written}'" if written else f"{'.'.join(map(str, node['loc']))} ({kind})"

    def _unused(self, nodes: tuple[Node, ...], inputs: dict[str, int], outputs: dict[str, int]) -> None:
        used = {s for node in nodes for s in node.sources} | set(outputs.values())
        for i, node in enumerate(nodes):
            if i in used:
                continue
            if node.is_input:
                name = next(n for n, j in inputs.items() if j == i)
                self.problems.append((node.loc, f"input '{name}' is not used: no layer takes it "
                                                f"(`from: {name}`)"))
            else:
                self.problems.append((node.loc, f"the output of {self._label(i)} is not used: no layer "
                                                "takes it (`from:`) and `outputs` does not name it"))
